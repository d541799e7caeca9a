package tier

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these, one
// of the image-header errors of internal/imghdr (the tier header refused:
// ErrBadMagic, ErrBadChecksum, ErrVersion, ErrGeometry, also for a file
// whose size disagrees with its header), or an operating-system error,
// with the file or slot concerned; test with errors.Is.
var (
	// ErrInvalidSize: a tier size that is not a positive multiple of SlotSize.
	ErrInvalidSize = errors.New("brick: invalid tier size")
	// ErrUUIDMismatch: the tier belongs to another brick.
	ErrUUIDMismatch = errors.New("brick: tier belongs to another brick")
	// ErrRange: a slot index past the end, or a buffer not SlotSize long.
	ErrRange = errors.New("brick: tier slot out of range")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("brick: tier closed")
)
