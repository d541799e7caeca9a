package soft

import (
	"errors"
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// The package's own sentinels. Errors a caller sees wrap the verbs
// sentinels (ErrProtocol, ErrRemoteAccess, ErrClosed...), as errFraming
// does; the others mark cases the package tells apart internally.

// errFraming marks malformed FPDUs (bad lengths, versions, opcodes, CRC).
var errFraming = fmt.Errorf("soft: malformed FPDU: %w", verbs.ErrProtocol)

// errMPA marks a malformed or unacceptable MPA Request/Reply.
var errMPA = errors.New("soft: bad MPA frame")

// errLocalRevoked: a local region was deregistered under a posted request.
var errLocalRevoked = errors.New("soft: local memory region deregistered under a posted request")

// errStop tells the receive loop that a Terminate is on its way and the
// rest of the input is to be discarded.
var errStop = errors.New("soft: stream terminated")
