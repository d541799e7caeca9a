package tier

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (or an
// operating-system error) with the file or slot concerned; test with
// errors.Is.
var (
	// ErrBadMagic: the file does not start with the tier header magic.
	ErrBadMagic = errors.New("brick: not a brick tier file")
	// ErrBadChecksum: the header is damaged.
	ErrBadChecksum = errors.New("brick: tier header checksum mismatch (damaged header)")
	// ErrVersion: the header was written by an incompatible brick.
	ErrVersion = errors.New("brick: unsupported tier header version")
	// ErrGeometry: the slot size or count disagrees with the file or the
	// configuration.
	ErrGeometry = errors.New("brick: tier geometry does not match the file")
	// ErrInvalidSize: a tier size that is not a positive multiple of SlotSize.
	ErrInvalidSize = errors.New("brick: invalid tier size")
	// ErrUUIDMismatch: the tier belongs to another brick.
	ErrUUIDMismatch = errors.New("brick: tier belongs to another brick")
	// ErrRange: a slot index past the end, or a buffer not SlotSize long.
	ErrRange = errors.New("brick: tier slot out of range")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("brick: tier closed")
)
