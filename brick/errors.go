package brick

import (
	"errors"
	"fmt"

	"github.com/brick-storage/brick/protocol"
)

// Why a session ended, when it is not the peer's transport going away.
// Verbs fail with protocol's sentinels (protocol.ErrBusy, ...) so that
// their status goes on the wire.
var (
	errSilent   = errors.New("brick: the peer was silent for longer than the session timeout; presuming it dead")
	errNotAuthd = fmt.Errorf("%w: request before authentication", protocol.ErrPermission)
	errBadProof = fmt.Errorf("%w: authentication failed: the peer does not know the key", protocol.ErrPermission)
	// errAuthTimeout: the peer did not prove the key within the
	// authentication deadline (Config.AuthTimeout).
	errAuthTimeout = errors.New("brick: the peer did not authenticate in time")
	// errEvicted: every unauthenticated slot (Config.MaxUnauthenticated)
	// was taken when a newer peer came, and this was the oldest.
	errEvicted = errors.New("brick: unauthenticated session closed to admit a newer peer (too many sessions waiting to authenticate)")
	// errRevokeStalled: revoking a key waited on the session's peer longer
	// than the bound; the session was ended so that the revocation could
	// finish (revoke.go).
	errRevokeStalled = errors.New("brick: revocation waited on the peer too long; session ended")
	// errEndedByAdmin: another session asked the brick to end this one
	// (protocol.RevokeEnd; brickctl revoke --end).
	errEndedByAdmin = errors.New("brick: session ended by an admin request")
)
