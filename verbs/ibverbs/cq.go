//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"context"
	"sync"
	"time"

	"github.com/brick-storage/brick/verbs"
)

// slot is a posted work request as the caller knows it.
type slot struct {
	id       uint64
	op       verbs.Opcode
	internal bool // a memory window bind: its completion is not reported
	done     bool // completed, waiting for the slots before it
}

// ring maps the sequence numbers posted as wr_id back to slots. Every
// request is signaled, so each completes by itself. InfiniBand RC
// completes a send queue in post order; iWARP devices do not (siw
// completes a Write once transmitted, before a Read posted ahead of it
// has its Response), so a slot is freed when it and every slot before it
// completed.
type ring struct {
	slots      []slot
	head, tail uint64 // next sequence to post; oldest not freed
	pending    int    // posted and not completed
	user       int    // pending caller requests (not internal)
	userMax    int
}

func (r *ring) full(internal bool) bool {
	if r.head-r.tail >= uint64(len(r.slots)) {
		return true
	}
	return !internal && r.user >= r.userMax
}

func (r *ring) push(s slot) uint64 {
	seq := r.head
	s.done = false
	r.slots[seq%uint64(len(r.slots))] = s
	r.head++
	r.pending++
	if !s.internal {
		r.user++
	}
	return seq
}

// complete retires seq; ok is false for a sequence not pending.
func (r *ring) complete(seq uint64) (slot, bool) {
	n := uint64(len(r.slots))
	if seq < r.tail || seq >= r.head || r.slots[seq%n].done {
		return slot{}, false
	}
	s := &r.slots[seq%n]
	s.done = true
	r.pending--
	if !s.internal {
		r.user--
	}
	for r.tail < r.head && r.slots[r.tail%n].done {
		r.tail++
	}
	return *s, true
}

func (r *ring) outstanding() int { return r.pending }

// flushAll retires every pending slot and returns the caller's ones: the
// requests a dead QP will not complete.
func (r *ring) flushAll() []slot {
	var out []slot
	for seq := r.tail; seq < r.head; seq++ {
		if s, ok := r.complete(seq); ok && !s.internal {
			out = append(out, s)
		}
	}
	return out
}

// cq is a completion queue with the ring of its work queue.
type cq struct {
	conn   *conn
	recv   bool
	notify chan struct{} // completion channel events, coalesced

	mu struct {
		sync.Mutex
		hw   *C.struct_ibv_cq // nil once freed
		ring ring
		buf  [32]C.struct_brick_wc
		// flushed: completions of requests a dead QP never completed
		// (siw leaves some), reported as flushed by Wait.
		flushed []verbs.WC
	}
}

// flushGrace is how long Wait lets a dead QP's device complete what is
// still outstanding before it reports those requests flushed itself.
const flushGrace = 2 * time.Second

func newCQ(c *conn, hw *C.struct_ibv_cq, capacity, userMax int, recv bool) *cq {
	q := &cq{conn: c, recv: recv, notify: make(chan struct{}, 1)}
	q.mu.hw = hw
	q.mu.ring = ring{slots: make([]slot, capacity), userMax: userMax}
	return q
}

func (q *cq) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// forget drops the hardware CQ before it is destroyed.
func (q *cq) forget() {
	q.mu.Lock()
	q.mu.hw = nil
	q.mu.Unlock()
}

// Poll copies up to len(wcs) completions.
func (q *cq) Poll(wcs []verbs.WC) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pollLocked(wcs)
}

func (q *cq) pollLocked(wcs []verbs.WC) int {
	n := copy(wcs, q.mu.flushed)
	q.mu.flushed = q.mu.flushed[n:]
	for q.mu.hw != nil && n < len(wcs) {
		want := min(len(wcs)-n, len(q.mu.buf))
		got := int(C.brick_poll(q.mu.hw, &q.mu.buf[0], C.int(want)))
		for i := 0; i < got; i++ {
			w := &q.mu.buf[i]
			s, ok := q.mu.ring.complete(uint64(w.wr_id))
			if !ok || s.internal {
				continue
			}
			wc := verbs.WC{ID: s.id, Op: s.op, Status: mapStatus(w.status)}
			if wc.Status != verbs.StatusSuccess {
				// The QP is in the error state (a flush says so too:
				// siw reports a peer's Terminate only by flushing).
				q.conn.fault(faultOf(q.conn, wc))
			}
			if q.recv {
				wc.Op = verbs.OpRecv
				wc.ByteLen = uint32(w.byte_len)
				wc.Invalidated = uint32(w.invalidated)
			}
			wcs[n] = wc
			n++
		}
		if got < want {
			break
		}
	}
	return n
}

// Wait blocks until a completion is ready. It arms the CQ, polls once more
// (a completion that arrived before arming raises no event), then sleeps
// until the completion goroutine signals. After Close it returns ErrClosed
// once every outstanding request has completed and been polled.
func (q *cq) Wait(ctx context.Context, wcs []verbs.WC) (int, error) {
	if len(wcs) == 0 {
		return 0, nil
	}
	for {
		q.mu.Lock()
		n := q.pollLocked(wcs)
		if n == 0 && q.mu.hw != nil {
			C.brick_arm_cq(q.mu.hw)
			n = q.pollLocked(wcs)
		}
		drained := (q.mu.hw == nil || q.mu.ring.outstanding() == 0) && len(q.mu.flushed) == 0
		q.mu.Unlock()
		if n > 0 {
			return n, nil
		}
		ended := q.conn.ended()
		if drained && ended {
			return 0, q.conn.errClosed()
		}
		done := q.conn.done
		var grace *time.Timer
		var graceC <-chan time.Time
		if ended {
			done = nil // already closed: wait for the flushed completions
			grace = time.NewTimer(flushGrace)
			graceC = grace.C
		}
		select {
		case <-q.notify:
		case <-done:
		case <-q.conn.gone:
		case <-graceC:
			q.flushPending()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if grace != nil {
			grace.Stop()
		}
	}
}

// flushPending reports every request still outstanding on a dead QP as
// flushed.
func (q *cq) flushPending() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.mu.ring.flushAll() {
		wc := verbs.WC{ID: s.id, Op: s.op, Status: verbs.StatusFlushed}
		if q.recv {
			wc.Op = verbs.OpRecv
		}
		q.mu.flushed = append(q.mu.flushed, wc)
	}
}

// mapStatus translates an ibv_wc_status.
func mapStatus(s C.uint32_t) verbs.Status {
	switch s {
	case C.IBV_WC_SUCCESS:
		return verbs.StatusSuccess
	case C.IBV_WC_LOC_LEN_ERR:
		return verbs.StatusLocalLength
	case C.IBV_WC_LOC_QP_OP_ERR, C.IBV_WC_LOC_EEC_OP_ERR, C.IBV_WC_LOC_PROT_ERR,
		C.IBV_WC_LOC_RDD_VIOL_ERR, C.IBV_WC_LOC_ACCESS_ERR, C.IBV_WC_MW_BIND_ERR:
		return verbs.StatusLocalProt
	case C.IBV_WC_WR_FLUSH_ERR:
		return verbs.StatusFlushed
	case C.IBV_WC_REM_ACCESS_ERR:
		return verbs.StatusRemoteAccess
	case C.IBV_WC_REM_OP_ERR, C.IBV_WC_REM_ABORT_ERR:
		return verbs.StatusRemoteOp
	case C.IBV_WC_REM_INV_REQ_ERR, C.IBV_WC_REM_INV_RD_REQ_ERR:
		return verbs.StatusRemoteInvalidRequest
	case C.IBV_WC_RNR_RETRY_EXC_ERR:
		return verbs.StatusRNR
	}
	// BAD_RESP, RETRY_EXC, INV_EECN, INV_EEC_STATE, FATAL, RESP_TIMEOUT,
	// GENERAL and tag-matching errors: the connection is unusable.
	return verbs.StatusTransport
}
