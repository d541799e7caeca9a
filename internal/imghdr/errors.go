package imghdr

import "errors"

// The ways an image's header is refused, the same for every kind of image.
// Decode returns the first two; the image's own package returns the other
// two from its checks of the version and the geometry. Each comes wrapped
// with the kind of image (Kind.Name) and what was found.
var (
	// ErrBadMagic: the image does not start with its kind's magic (not a
	// brick image, or another kind of one), or is shorter than a header.
	ErrBadMagic = errors.New("brick: not a brick image of this kind")
	// ErrBadChecksum: the header is damaged (torn write or corruption).
	ErrBadChecksum = errors.New("brick: header checksum mismatch (damaged header)")
	// ErrVersion: the header was written by an incompatible brick.
	ErrVersion = errors.New("brick: unsupported image version")
	// ErrGeometry: the unit or count disagrees with the image's size, the
	// configuration, or what this brick uses.
	ErrGeometry = errors.New("brick: image geometry does not match")
)
