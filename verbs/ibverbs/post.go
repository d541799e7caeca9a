//go:build ibverbs

package ibverbs

/*
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/brick-storage/brick/verbs"
)

// PostSend posts one signaled work request. ATOMIC WRITE and FLUSH go
// through the extended QP API and need Caps().AtomicWrite / Caps().Flush.
func (c *conn) PostSend(wr verbs.SendWR) error {
	if c.closed.Load() || c.ended() { // a post to an errored QP would only be flushed
		return c.errClosed()
	}
	if err := c.checkSend(wr); err != nil {
		return err
	}
	q := c.scq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.hw == nil {
		return c.errClosed()
	}
	if q.mu.ring.full(false) {
		return fmt.Errorf("brick: rdma send queue (%d): %w", c.cfg.SendDepth, verbs.ErrQueueFull)
	}
	seq := C.uint64_t(q.mu.ring.head)
	l := wr.Local
	var rc C.int
	switch wr.Op {
	case verbs.OpSend:
		rc = C.brick_post_send(c.c.qp, seq, C.IBV_WR_SEND, C.uint64_t(l.Addr), C.uint32_t(l.Length), C.uint32_t(l.LKey), 0, 0, 0)
	case verbs.OpSendInv:
		rc = C.brick_post_send(c.c.qp, seq, C.IBV_WR_SEND_WITH_INV, C.uint64_t(l.Addr), C.uint32_t(l.Length), C.uint32_t(l.LKey), 0, 0, C.uint32_t(wr.InvalidateRKey))
	case verbs.OpWrite:
		rc = C.brick_post_send(c.c.qp, seq, C.IBV_WR_RDMA_WRITE, C.uint64_t(l.Addr), C.uint32_t(l.Length), C.uint32_t(l.LKey), C.uint32_t(wr.RKey), C.uint64_t(wr.Remote), 0)
	case verbs.OpRead:
		rc = C.brick_post_send(c.c.qp, seq, C.IBV_WR_RDMA_READ, C.uint64_t(l.Addr), C.uint32_t(l.Length), C.uint32_t(l.LKey), C.uint32_t(wr.RKey), C.uint64_t(wr.Remote), 0)
	case verbs.OpAtomicWrite:
		// The 8 bytes are read from registered (non-Go) memory at post
		// time and copied into the work queue entry.
		rc = C.brick_post_atomic_write(c.c.qpx, seq, C.uint32_t(wr.RKey), C.uint64_t(wr.Remote), C.uint64_t(l.Addr))
	case verbs.OpFlush:
		rc = postFlush(c.c.qpx, seq, C.uint32_t(wr.RKey), C.uint64_t(wr.Remote), C.size_t(l.Length))
	}
	if rc != 0 {
		if C.brick_qp_down(c.c.qp) == 1 {
			// siw refuses posts once a Terminate moved the QP out of
			// RTS, before rdma_cm reports the disconnect.
			err := fmt.Errorf("brick: rdma queue pair to %s left the ready state: %w", c.remote, verbs.ErrFlushed)
			c.fault(err)
			return c.errClosed()
		}
		return postError("send", rc)
	}
	q.mu.ring.push(slot{id: wr.ID, op: wr.Op})
	return nil
}

// checkSend refuses a work request the device cannot carry or that is
// malformed, before anything is posted.
func (c *conn) checkSend(wr verbs.SendWR) error {
	switch wr.Op {
	case verbs.OpSendInv:
		if !c.caps.MemoryWindows {
			return notSupported("brick: rdma send with invalidate: the device has no memory windows")
		}
	case verbs.OpAtomicWrite:
		if !c.caps.AtomicWrite {
			return notSupported("brick: rdma atomic write: the device or the rdma-core it was built against does not offer it")
		}
		if wr.Local.Length != 8 || wr.Remote%8 != 0 {
			return fmt.Errorf("%w: atomic write of %d bytes at remote %#x; want 8 bytes, 8-byte aligned", verbs.ErrInvalid, wr.Local.Length, wr.Remote)
		}
		// The provider itself reads the 8 bytes at post time (they go into
		// the work queue entry), so the SGE must name registered memory.
		if err := c.pd.checkLocal(wr.Local); err != nil {
			return fmt.Errorf("brick: rdma atomic write: %w", err)
		}
	case verbs.OpFlush:
		if !c.caps.Flush {
			return notSupported("brick: rdma flush: the device does not offer it, or brick was built without -tags rdmacore45 (rdma-core >= 45 headers)")
		}
	case verbs.OpRead:
		if int(wr.Local.Length) > c.cfg.MaxReadSize {
			return fmt.Errorf("%w: read of %d bytes exceeds MaxReadSize %d", verbs.ErrInvalid, wr.Local.Length, c.cfg.MaxReadSize)
		}
	case verbs.OpSend, verbs.OpWrite:
	default:
		return fmt.Errorf("%w: send work request opcode %v", verbs.ErrInvalid, wr.Op)
	}
	return nil
}

// PostRecv posts one receive.
func (c *conn) PostRecv(wr verbs.RecvWR) error {
	if c.closed.Load() || c.ended() {
		return c.errClosed()
	}
	q := c.rcq
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.mu.hw == nil {
		return c.errClosed()
	}
	if q.mu.ring.full(false) {
		return fmt.Errorf("brick: rdma receive queue (%d): %w", c.cfg.RecvDepth, verbs.ErrQueueFull)
	}
	l := wr.Local
	if rc := C.brick_post_recv(c.c.qp, C.uint64_t(q.mu.ring.head), C.uint64_t(l.Addr), C.uint32_t(l.Length), C.uint32_t(l.LKey)); rc != 0 {
		return postError("receive", rc)
	}
	q.mu.ring.push(slot{id: wr.ID, op: verbs.OpRecv})
	return nil
}

// postError maps an ibv_post_* errno (returned, not in errno).
func postError(what string, rc C.int) error {
	err := errno(int(rc))
	switch {
	case errors.Is(err, syscall.ENOMEM):
		return fmt.Errorf("brick: rdma post %s: %w", what, verbs.ErrQueueFull)
	case errors.Is(err, syscall.EOPNOTSUPP):
		return notSupported("brick: rdma post %s: %v", what, err)
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%w: rdma post %s: %v", verbs.ErrInvalid, what, err)
	}
	return fmt.Errorf("brick: rdma post %s: %w", what, err)
}

// BindMW allocates a type-2 window and posts a signaled bind over
// [off, off+length) of mr. The bind runs in send queue order: requests
// posted after BindMW leave after it.
func (c *conn) BindMW(mr verbs.MR, off, length int, access verbs.Access) (verbs.MW, error) {
	if !c.caps.MemoryWindows {
		return nil, notSupported("brick: rdma memory windows: the device offers no type-2 memory windows")
	}
	m, ok := mr.(*memRegion)
	if !ok || m.pd != c.pd {
		return nil, fmt.Errorf("%w: memory region of another protection domain", verbs.ErrInvalid)
	}
	if m.access&verbs.AccessMWBind == 0 {
		return nil, fmt.Errorf("%w: memory region registered without AccessMWBind", verbs.ErrInvalid)
	}
	if err := verbs.CheckWindowRights(access, m.access); err != nil {
		return nil, fmt.Errorf("brick: rdma bind window: %w", err)
	}
	if off < 0 || length <= 0 || off > m.Len() || length > m.Len()-off {
		return nil, fmt.Errorf("%w: window [%d, %d) outside a region of %d bytes", verbs.ErrInvalid, off, off+length, m.Len())
	}
	if c.closed.Load() {
		return nil, c.errClosed()
	}
	var cerr C.int
	hw := C.brick_alloc_mw(c.pd.hw, &cerr)
	if hw == nil {
		return nil, postError("memory window allocation", cerr)
	}
	q := c.scq
	q.mu.Lock()
	if q.mu.hw == nil || q.mu.ring.full(true) {
		closed := q.mu.hw == nil
		q.mu.Unlock()
		C.ibv_dealloc_mw(hw)
		if closed {
			return nil, c.errClosed()
		}
		return nil, fmt.Errorf("brick: rdma send queue (binds): %w", verbs.ErrQueueFull)
	}
	addr := m.Addr() + uint64(off)
	var rkey C.uint32_t
	rc := C.brick_post_bind_mw(c.c.qp, C.uint64_t(q.mu.ring.head), hw, m.hw, C.uint64_t(addr), C.uint64_t(length), C.uint(ibvAccess(access)&^C.IBV_ACCESS_LOCAL_WRITE), &rkey)
	if rc == 0 {
		q.mu.ring.push(slot{internal: true})
	}
	q.mu.Unlock()
	if rc != 0 {
		C.ibv_dealloc_mw(hw)
		return nil, postError("memory window bind", rc)
	}
	c.ref()
	return &memWindow{conn: c, hw: hw, rkey: uint32(rkey), addr: addr, n: length}, nil
}
