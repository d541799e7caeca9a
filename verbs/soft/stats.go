package soft

import "sync/atomic"

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
