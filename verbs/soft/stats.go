package soft

import (
	"sync/atomic"

	"github.com/brick-storage/brick/verbs"
)

// Process-wide data-path counters of the software RNIC, for metrics. They
// count payload bytes of every QP in the process, whichever side it is on.
var (
	// WriteBytesPlaced counts bytes that inbound RDMA Writes placed into
	// this process's registered memory (at a brick: bytes clients wrote).
	WriteBytesPlaced atomic.Uint64
	// ReadBytesServed counts bytes this process sent from its registered
	// memory to answer inbound RDMA Reads (at a brick: bytes clients read).
	ReadBytesServed atomic.Uint64
)

func init() {
	verbs.RegisterCounters(verbs.CounterSource{Name: "soft", Description: "the software RNIC",
		Read: func() verbs.Counters {
			return verbs.Counters{WriteBytesPlaced: WriteBytesPlaced.Load(), ReadBytesServed: ReadBytesServed.Load()}
		}})
}
