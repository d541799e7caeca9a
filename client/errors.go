package client

import (
	"errors"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// The brick's verb errors, as returned (wrapped) by the client. Test with
// errors.Is.
var (
	ErrExist        = protocol.ErrExist
	ErrNoSpace      = protocol.ErrNoSpace
	ErrInvalid      = protocol.ErrInvalid
	ErrNotFound     = protocol.ErrNotFound
	ErrBusy         = protocol.ErrBusy
	ErrNotMapped    = protocol.ErrNotMapped
	ErrProtocol     = protocol.ErrProtocol
	ErrPermission   = protocol.ErrPermission
	ErrNotSupported = protocol.ErrNotSupported
	ErrLimit        = protocol.ErrLimit
	ErrNoSession    = protocol.ErrNoSession // EndSession, RevokeSession
	ErrInternal     = protocol.ErrInternal
	// ErrBrickHasNoKey: a key was given and the brick has none, so it
	// cannot prove it is the brick; the session is refused. It comes
	// with ErrPermission.
	ErrBrickHasNoKey = protocol.ErrBrickHasNoKey
)

// The RDMA data path's errors, as returned (wrapped) by handles, so that
// callers test for them without naming the verbs layer.
var (
	// ErrRemoteAccess: the brick's RNIC refused an access (a revoked
	// handle, a range outside the block).
	ErrRemoteAccess = verbs.ErrRemoteAccess
	// ErrTransfer: an RDMA transfer did not complete.
	ErrTransfer = verbs.ErrCompletion
	// ErrAddress: Dial's address is malformed, or names a transport this
	// build cannot dial (rdma:// without -tags ibverbs, or with no RDMA
	// device); nothing was sent.
	ErrAddress = verbs.ErrAddress
)

// Client-side errors.
var (
	// ErrClosed: the client was closed or its connection ended.
	ErrClosed = errors.New("brick: connection to the brick is closed")
	// ErrVolatile: the block lives in volatile memory; nothing the client
	// does makes its writes persistent.
	ErrVolatile = errors.New("brick: the brick's memory is volatile; writes cannot be made persistent")
	// ErrAccess: a data operation the handle's access does not allow.
	ErrAccess = errors.New("brick: handle does not allow this access")
	// ErrRange: a data operation outside the block.
	ErrRange = errors.New("brick: range is outside the block")
)
