package client

import (
	"context"
	"fmt"

	"github.com/brick-storage/brick/verbs"
)

// Buffer is memory registered with a session. Handle.WriteFrom and
// Handle.ReadInto move bytes between it and a block with no copy through
// the client, and any number of them may run at once from different
// goroutines: they queue on the session's send queue (waiting for room
// when it is full), where WriteAt and ReadAt take turns on one staging
// buffer. The memory lives outside the Go heap (hardware RNICs must not
// register the Go heap); like an mmap'd file, Bytes must not be used after
// Free.
type Buffer struct {
	c   *Client
	mem []byte
	mr  verbs.MR // nil once the session has closed; guarded by c.mu
}

// NewBuffer allocates and registers n bytes.
func (c *Client) NewBuffer(n int) (*Buffer, error) {
	mem, err := verbs.AllocMemory(n)
	if err != nil {
		return nil, err
	}
	mr, err := c.qp.PD().Register(mem, verbs.AccessLocalWrite)
	if err != nil {
		verbs.FreeMemory(mem)
		return nil, fmt.Errorf("brick: register a %d-byte buffer: %w", n, closedErr(err))
	}
	b := &Buffer{c: c, mem: mem, mr: mr}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.err != nil {
		mr.Deregister()
		verbs.FreeMemory(mem)
		return nil, c.mu.err
	}
	if c.mu.buffers == nil {
		c.mu.buffers = make(map[*Buffer]struct{})
	}
	c.mu.buffers[b] = struct{}{}
	return b, nil
}

// Bytes is the buffer's memory.
func (b *Buffer) Bytes() []byte { return b.mem }

// Free deregisters the buffer and releases its memory. No operation on it
// may be in flight, and Bytes must not be used after.
func (b *Buffer) Free() error {
	b.c.mu.Lock()
	b.deregisterLocked()
	delete(b.c.mu.buffers, b)
	b.c.mu.Unlock()
	err := verbs.FreeMemory(b.mem)
	b.mem = nil
	return err
}

// deregisterLocked drops the registration; c.mu is held.
func (b *Buffer) deregisterLocked() {
	if b.mr != nil {
		b.mr.Deregister()
		b.mr = nil
	}
}

// sge describes [off, off+n) of the buffer, or fails if that is outside it
// or the buffer is no longer registered.
func (b *Buffer) sge(off, n int) (verbs.SGE, error) {
	if off < 0 || n < 0 || off > len(b.mem) || n > len(b.mem)-off {
		return verbs.SGE{}, fmt.Errorf("%w: [%d, %d) of a %d-byte buffer", ErrRange, off, off+n, len(b.mem))
	}
	b.c.mu.Lock()
	mr := b.mr
	b.c.mu.Unlock()
	if mr == nil {
		return verbs.SGE{}, fmt.Errorf("buffer: %w", ErrClosed)
	}
	return verbs.SGEOf(mr, off, n), nil
}

// WriteFrom writes n bytes at bufOff of b to offset off of the block with
// one RDMA Write. As with WriteAt, the bytes are not persistent until
// Persist returns. b must belong to the handle's session.
func (h *Handle) WriteFrom(ctx context.Context, b *Buffer, bufOff, n int, off int64) error {
	if !h.Writable() {
		return fmt.Errorf("write block %#x: %w: mapped read-only", h.ID, ErrAccess)
	}
	return h.direct(ctx, verbs.OpWrite, b, bufOff, n, off)
}

// ReadInto reads n bytes at offset off of the block into b at bufOff with
// one RDMA Read. b must belong to the handle's session.
func (h *Handle) ReadInto(ctx context.Context, b *Buffer, bufOff, n int, off int64) error {
	return h.direct(ctx, verbs.OpRead, b, bufOff, n, off)
}

func (h *Handle) direct(ctx context.Context, op verbs.Opcode, b *Buffer, bufOff, n int, off int64) error {
	if err := h.live(op.String()); err != nil {
		return err
	}
	if b.c != h.c {
		return fmt.Errorf("rdma %s block %#x: %w: the buffer belongs to another session", op, h.ID, ErrInvalid)
	}
	if err := h.checkRange(off, n); err != nil {
		return err
	}
	sge, err := b.sge(bufOff, n)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Once posted the operation runs to completion: the RNIC owns the
	// buffer until then, so ctx is not consulted again.
	wc, err := h.c.post(verbs.SendWR{Op: op, Local: sge, RKey: h.RKey, Remote: h.Addr + uint64(off)})
	if err == nil {
		err = wc.Err()
	}
	if err == nil && op == verbs.OpWrite && h.c.qp.Caps().EarlyCompletion {
		err = h.readBarrier(off) // b is the caller's again only once the Write left it
	}
	if err != nil {
		return fmt.Errorf("rdma %s block %#x at %d: %w", op, h.ID, off, h.c.dataErr(err))
	}
	return nil
}
