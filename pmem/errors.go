package pmem

import "errors"

// Sentinel errors. Every error returned by this package wraps one of these,
// one of the image-header errors of internal/imghdr (ErrBadMagic,
// ErrBadChecksum, ErrVersion, ErrGeometry: the superblock refused, or a size
// that disagrees with the image), or an operating-system error, together
// with the image path or frame concerned; test with errors.Is. The header
// errors are one definition for both image kinds, internal to the module:
// pmem is brickd's layer, not a library for callers outside it (client is).
var (
	// ErrInvalidSize: a size that is not a multiple of the frame size, too
	// small to hold a superblock and one data frame, or unparseable.
	ErrInvalidSize = errors.New("brick: invalid pmem size")
	// ErrLocked: another process has the image mapped.
	ErrLocked = errors.New("brick: pmem image locked")
	// ErrNotSupported: the backend cannot be had on this system.
	ErrNotSupported = errors.New("brick: pmem backend not supported")
	// ErrRange: a slice passed to Flush does not lie inside the region.
	ErrRange = errors.New("brick: range outside the pmem region")
	// ErrClosed: the region has been closed.
	ErrClosed = errors.New("brick: pmem region closed")
	// ErrNoSpace: the file system cannot hold the whole image, so it is
	// not created (or, sparse from an older brick, not opened): a write
	// into a page with no disk block behind it would kill the process with
	// SIGBUS.
	ErrNoSpace = errors.New("brick: not enough disk space for the pmem image")
	// ErrNoImage: Options.Existing was set and the image does not exist.
	ErrNoImage = errors.New("brick: pmem image does not exist")
	// ErrUnformatted: Options.Existing was set and the image has no
	// superblock (its header is all zero).
	ErrUnformatted = errors.New("brick: pmem image has no superblock")
)
