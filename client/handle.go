package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// Handle is a mapped block: the RDMA key and address the brick returned.
// Its fields are the handle as the brick sent it.
type Handle struct {
	c      *Client
	ID     uint64
	RKey   uint32
	Addr   uint64
	Length uint64
	Access uint8                  // protocol.AccessRead | protocol.AccessWrite
	Method protocol.PersistMethod // how Persist makes writes durable
}

// Writable reports whether the handle allows RDMA Writes.
func (h *Handle) Writable() bool { return h.Access&protocol.AccessWrite != 0 }

// WriteAt writes p at offset off of the block with RDMA Writes. When it
// returns the bytes have reached the brick but are not yet persistent: call
// Persist. The handle's own bounds and access are checked first; the brick's
// RNIC checks them again, and a fault there ends the session.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	if !h.Writable() {
		return 0, fmt.Errorf("write block %#x: %w: mapped read-only", h.ID, ErrAccess)
	}
	if err := h.checkRange(off, len(p)); err != nil {
		return 0, err
	}
	return h.transfer(verbs.OpWrite, p, off)
}

// ReadAt reads len(p) bytes at offset off of the block with RDMA Reads.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.checkRange(off, len(p)); err != nil {
		return 0, err
	}
	return h.transfer(verbs.OpRead, p, off)
}

func (h *Handle) checkRange(off int64, n int) error {
	if off < 0 || uint64(off) > h.Length || uint64(n) > h.Length-uint64(off) {
		return fmt.Errorf("block %#x: %w: [%d, %d) of %d bytes", h.ID, ErrRange, off, off+int64(n), h.Length)
	}
	return nil
}

// transfer moves p through the staging buffer in chunks.
func (h *Handle) transfer(op verbs.Opcode, p []byte, off int64) (int, error) {
	c := h.c
	c.stage.Lock()
	defer c.stage.Unlock()
	if c.stage.mr == nil {
		return 0, ErrClosed
	}
	done := 0
	for done < len(p) {
		n := min(len(p)-done, len(c.stage.mem))
		if op == verbs.OpWrite {
			copy(c.stage.mem, p[done:done+n])
		}
		wc, err := c.post(verbs.SendWR{
			Op:     op,
			Local:  verbs.SGEOf(c.stage.mr, 0, n),
			RKey:   h.RKey,
			Remote: h.Addr + uint64(off) + uint64(done),
		})
		if err == nil {
			err = wc.Err()
		}
		if err == nil && op == verbs.OpWrite && c.qp.Caps().EarlyCompletion {
			// The staging buffer is reused next: first prove the Write
			// left it, with a Read behind it on the same QP.
			wc, err = c.post(verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(c.stage.mr, 0, 1),
				RKey: h.RKey, Remote: h.Addr + uint64(off) + uint64(done)})
			if err == nil {
				err = wc.Err()
			}
		}
		if err != nil {
			return done, fmt.Errorf("rdma %s block %#x at %d: %w", op, h.ID, off+int64(done), closedErr(err))
		}
		if op == verbs.OpRead {
			copy(p[done:done+n], c.stage.mem[:n])
		}
		done += n
	}
	return done, nil
}

// post posts a data work request and waits for its completion.
func (c *Client) post(wr verbs.SendWR) (verbs.WC, error) {
	select {
	case <-c.dataSlots:
	case <-c.done:
		err := c.Err()
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %v", ErrClosed, err)
		}
		return verbs.WC{}, err
	}
	defer func() { c.dataSlots <- struct{}{} }()
	wr.ID = c.nextWR.Add(1) &^ msgWR
	ch := make(chan verbs.WC, 1)
	c.mu.Lock()
	if c.mu.dataDone {
		err := c.mu.err
		c.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return verbs.WC{}, err
	}
	c.mu.data[wr.ID] = ch
	c.mu.Unlock()
	if err := c.qp.PostSend(wr); err != nil {
		c.mu.Lock()
		delete(c.mu.data, wr.ID)
		c.mu.Unlock()
		return verbs.WC{}, err
	}
	// Wait for the completion, reaping the send CQ when nobody else is.
	for {
		select {
		case wc := <-ch:
			return wc, nil
		case <-c.sendTurn:
			select {
			case wc := <-ch: // handed over before the turn came back
				c.sendTurn <- struct{}{}
				return wc, nil
			default:
			}
			c.reapSend(context.Background()) // a drained CQ fails ch's owner too
			c.sendTurn <- struct{}{}
		}
	}
}

// Persist makes the writes in [off, off+n) that WriteAt has returned for
// persistent, by the handle's method, and returns only once the method has
// completed:
//
//   - FLUSH: an RDMA FLUSH of the range; done when the brick's RNIC
//     reports the range persistent.
//   - APM: a 1-byte RDMA Read from the range on the same queue pair as the
//     writes; done when the Read completes, which the brick's RNIC answers
//     only after placing every earlier Write, into memory the brick
//     announced to be in the persistence domain (DDIO off, or eADR).
//   - GPSPM: a persist request; done when the brick has flushed the range
//     (CPU flush or msync) and replied.
//
// It returns ErrVolatile when the brick's memory cannot be made persistent.
func (h *Handle) Persist(ctx context.Context, off, n int64) error {
	if err := h.checkRange(off, int(n)); err != nil {
		return err
	}
	var err error
	switch h.Method {
	case protocol.PersistNone:
		return fmt.Errorf("persist block %#x: %w", h.ID, ErrVolatile)
	case protocol.PersistGPSPM:
		_, err = h.c.call(ctx, &protocol.PersistRequest{ID: h.ID, Offset: uint64(off), Length: uint64(n)})
	case protocol.PersistAPM:
		if n > 0 {
			err = h.readBarrier(off)
		}
	case protocol.PersistFlush:
		if n > 0 {
			err = h.flush(off, n)
		}
	default:
		return fmt.Errorf("persist block %#x: %w: method %s", h.ID, ErrNotSupported, h.Method)
	}
	if err != nil {
		return fmt.Errorf("persist block %#x by %s: %w", h.ID, h.Method, err)
	}
	return nil
}

// readBarrier is APM's small Read, through the staging buffer. It also
// proves that earlier Writes left their buffers on a QP with
// EarlyCompletion.
func (h *Handle) readBarrier(off int64) error {
	c := h.c
	c.stage.Lock()
	defer c.stage.Unlock()
	if c.stage.mr == nil {
		return ErrClosed
	}
	wc, err := c.post(verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(c.stage.mr, 0, 1), RKey: h.RKey, Remote: h.Addr + uint64(off)})
	if err != nil {
		return err
	}
	return wc.Err()
}

// flush is an RDMA FLUSH (persistent placement) of [off, off+n).
func (h *Handle) flush(off, n int64) error {
	wc, err := h.c.post(verbs.SendWR{Op: verbs.OpFlush, Local: verbs.SGE{Length: uint32(n)}, RKey: h.RKey, Remote: h.Addr + uint64(off)})
	if err != nil {
		return err
	}
	return wc.Err()
}

// Unmap revokes the handle.
func (h *Handle) Unmap(ctx context.Context) error { return h.c.Unmap(ctx, h.ID) }

// Free revokes the handle and frees its block: in one round trip (a Free
// with FreeUnmap) when the brick offers it, else as Unmap then Free. A map
// of the block by another session makes it ErrBusy, and Free may be
// called again. The handle still works after that refusal, except with
// a brick older than FreeUnmap: there the Unmap has revoked it.
func (h *Handle) Free(ctx context.Context) error {
	if h.c.hello.Features&protocol.FeatureFreeUnmap == 0 {
		// A second try finds the handle already unmapped by the first.
		if err := h.Unmap(ctx); err != nil && !errors.Is(err, ErrNotMapped) {
			return err
		}
		return h.c.Free(ctx, h.ID)
	}
	if _, err := h.c.call(ctx, &protocol.FreeRequest{ID: h.ID, Flags: protocol.FreeUnmap}); err != nil {
		return fmt.Errorf("free %#x: %w", h.ID, err)
	}
	return nil
}
