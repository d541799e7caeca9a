package soft

import (
	"sync"
	"sync/atomic"
)

// Staging. Memory a peer may read or write remotely can change while this
// RNIC moves it: the target's CPU, or another queue pair's Write, may
// store into it at any moment, which RDMA allows (the bytes transferred
// are then some mix of old and new). A hardware RNIC computes the CRC over
// the bytes as they cross the wire; this one cannot, since the kernel
// copies them at a different moment than the CRC reads them. A CRC taken
// over memory that changed in between fails at the receiver, which then
// ends a healthy connection as corrupted. So the bytes of the target's
// side are staged: a Read Response is copied out of the region into a
// private buffer, checksummed and written from there; a Write is read
// from the socket into a private buffer, checksummed and copied into the
// region. The copy costs little: the checksum and the kernel's copy then
// read a buffer that is hot in cache instead of the region.
//
// The initiator's own buffers (Send and Write payloads, Read sinks) are
// not staged: the verbs contract forbids changing them while a request
// is outstanding. Nor is target memory whose key carries the
// verbs.AccessStable promise, for Read Responses too large for the cork:
// they are written from the region itself, its read lock held across the
// writev (a revocation then waits for the writev, bounded by the stall
// timeout). Meanwhile the receive goroutine
// may wait too: once a revocation waits for the write lock, Go's RWMutex
// makes new readers wait behind it (a Send with Invalidate of that key,
// a Read Request through it, ReadServed hooks), until the writev ends or
// its deadline fails the QP. The brick makes that promise for read-only
// maps that no read-write map may join.
//
// Buffers come from pools, held only while a payload is in flight, so an
// idle queue pair holds none.

// stagePool holds buffers of one size.
type stagePool struct {
	size int
	pool sync.Pool
	// taken counts the buffers handed out: what was staged, which the
	// tests check (an atomic add per FPDU of up to 64 KiB costs nothing
	// beside the copy it stands for).
	taken atomic.Uint64
}

func newStagePool(size int) *stagePool {
	p := &stagePool{size: size}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

func (p *stagePool) get() *[]byte {
	p.taken.Add(1)
	return p.pool.Get().(*[]byte)
}

func (p *stagePool) put(b *[]byte) { p.pool.Put(b) }

var (
	// segStages holds one FPDU's payload: an inbound Write segment, or a
	// segment of an outbound Read Response.
	segStages = newStagePool(1 << 16)
	// corkStages holds a txCork's payloads: small Read Responses.
	corkStages = newStagePool(corkFPDUs * corkMax)
)
