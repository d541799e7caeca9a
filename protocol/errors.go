package protocol

import "errors"

// Sentinels for the brick's verb errors. Each status code maps to one; the
// client returns them wrapped with context, so callers use errors.Is.
var (
	ErrExist        = errors.New("brick: block already allocated")
	ErrNoSpace      = errors.New("brick: no space left on the brick")
	ErrInvalid      = errors.New("brick: invalid argument")
	ErrNotFound     = errors.New("brick: block not allocated")
	ErrBusy         = errors.New("brick: block is busy")
	ErrNotMapped    = errors.New("brick: block is not mapped") // by this session; by any, for a revoke of a block
	ErrProtocol     = errors.New("brick: protocol error")
	ErrPermission   = errors.New("brick: permission denied")
	ErrInternal     = errors.New("brick: internal error at the brick")
	ErrNotSupported = errors.New("brick: not supported by this brick")
	ErrLimit        = errors.New("brick: limit reached")
	ErrNoSession    = errors.New("brick: no such session")
)

// ErrKey: a pre-shared key or key file that cannot be used.
var ErrKey = errors.New("brick: unusable authentication key")

// ErrBrickHasNoKey: a client that has a key refuses a brick whose hello
// lacks FeatureAuth, which could be anyone (docs/protocol.md §5.8).
var ErrBrickHasNoKey = errors.New("brick: the brick has no key")

// Decoding errors; each wraps ErrProtocol.
var (
	ErrShort     = wrapProto("brick: message too short")
	ErrLength    = wrapProto("brick: message length mismatch")
	ErrMagic     = wrapProto("brick: bad magic: not a brick peer")
	ErrVersion   = wrapProto("brick: unsupported protocol version")
	ErrChecksum  = wrapProto("brick: message checksum mismatch")
	ErrType      = wrapProto("brick: unknown message type")
	ErrTooLarge  = wrapProto("brick: message larger than the maximum")
	ErrFlags     = wrapProto("brick: reserved header flags set")
	ErrReqStatus = wrapProto("brick: request carries a status")
	ErrReserved  = wrapProto("brick: reserved field not zero")
)

type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }
func (e *protoError) Unwrap() error { return ErrProtocol }

func wrapProto(msg string) error { return &protoError{msg} }
