package protocol

import "errors"

// Sentinels for the brick's verb errors, one for each status code: a reply
// carries the code, and the client returns its sentinel wrapped with
// context, so callers use errors.Is. statusErr files each under its code
// with the code's metric label, so this list is the one place that ties
// a code to its error and its label.
var (
	ErrExist        = statusErr(StatusExist, "eexist", "block already allocated")
	ErrNoSpace      = statusErr(StatusNoSpace, "enospc", "no space left on the brick")
	ErrInvalid      = statusErr(StatusInvalid, "einval", "invalid argument")
	ErrNotFound     = statusErr(StatusNotFound, "enoent", "block not allocated")
	ErrBusy         = statusErr(StatusBusy, "ebusy", "block is busy")
	ErrNotMapped    = statusErr(StatusNotMapped, "enotmapped", "block is not mapped") // by this session; by any, for a revoke of a block
	ErrProtocol     = statusErr(StatusProtocol, "eproto", "protocol error")
	ErrPermission   = statusErr(StatusPermission, "eperm", "permission denied")
	ErrInternal     = statusErr(StatusInternal, "internal", "internal error at the brick")
	ErrNotSupported = statusErr(StatusNotSupported, "enotsup", "not supported by this brick")
	ErrLimit        = statusErr(StatusLimit, "elimit", "limit reached")
	ErrNoSession    = statusErr(StatusNoSession, "enosession", "no such session")
)

// ErrKey: a pre-shared key or key file that cannot be used.
var ErrKey = errors.New("brick: unusable authentication key")

// ErrBrickHasNoKey: a client that has a key refuses a brick whose hello
// lacks FeatureAuth, which could be anyone (docs/protocol.md §5.8).
var ErrBrickHasNoKey = errors.New("brick: the brick has no key")

// Decoding errors; each refines ErrProtocol.
var (
	ErrShort     = Refine(ErrProtocol, "brick: message too short")
	ErrLength    = Refine(ErrProtocol, "brick: message length mismatch")
	ErrMagic     = Refine(ErrProtocol, "brick: bad magic: not a brick peer")
	ErrVersion   = Refine(ErrProtocol, "brick: unsupported protocol version")
	ErrChecksum  = Refine(ErrProtocol, "brick: message checksum mismatch")
	ErrType      = Refine(ErrProtocol, "brick: unknown message type")
	ErrTooLarge  = Refine(ErrProtocol, "brick: message larger than the maximum")
	ErrFlags     = Refine(ErrProtocol, "brick: reserved header flags set")
	ErrReqStatus = Refine(ErrProtocol, "brick: request carries a status")
	ErrReserved  = Refine(ErrProtocol, "brick: reserved field not zero")
)

// Refine returns a new sentinel with its own message that errors.Is
// matches both to itself and to of, a status sentinel. The decoding errors
// above are made with it, and so are the metadata store's errors that a
// client is told of: StatusOf reports each as of's status, with no table
// of the lower layer's own.
func Refine(of error, msg string) error { return &refined{msg, of} }

type refined struct {
	msg string
	of  error
}

func (e *refined) Error() string { return e.msg }
func (e *refined) Unwrap() error { return e.of }
