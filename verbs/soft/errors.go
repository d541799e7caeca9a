package soft

import (
	"errors"
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// The package's own sentinels, told apart with errors.Is. errFraming
// wraps verbs.ErrProtocol for callers; errStop never leaves the receive
// loop.

// errFraming marks malformed FPDUs (bad lengths, versions, opcodes, CRC).
var errFraming = fmt.Errorf("brick: soft: malformed FPDU: %w", verbs.ErrProtocol)

// errMPA marks a malformed or unacceptable MPA Request/Reply.
var errMPA = errors.New("brick: soft: bad MPA frame")

// errLocalRevoked: a local region was deregistered under a posted request.
var errLocalRevoked = errors.New("brick: soft: local memory region deregistered under a posted request")

// errStop tells the receive loop that a Terminate is on its way and the
// rest of the input is to be discarded.
var errStop = errors.New("brick: soft: stream terminated")
