package oscall

import "errors"

// ErrNotSupported: the file system or the operating system lacks the call.
var ErrNotSupported = errors.New("brick: not supported by the operating system")
