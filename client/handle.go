package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// Handle is a mapped block: the RDMA key and address the brick returned.
// Its fields are the handle as the brick sent it. A Handle may be used
// from several goroutines at once, as its Client may.
//
// Once its Unmap or Free has succeeded, the handle refuses every data
// operation and Unmap with ErrNotMapped, without asking the brick: its key
// is dead, and an RDMA access with a dead key would end the session; an
// Unmap would revoke a newer map of the same block.
type Handle struct {
	c      *Client
	ID     uint64
	RKey   uint32
	Addr   uint64
	Length uint64
	Access uint8                  // protocol.AccessRead | protocol.AccessWrite
	Method protocol.PersistMethod // how Persist makes writes durable

	// unmapped is set (to 1) by a successful Unmap or Free of this handle.
	// A plain uint32 under sync/atomic's functions, not an atomic.Bool:
	// a Handle is a value its users may copy, and a copy made before the
	// Unmap is another handle, which does not know of it.
	unmapped uint32
}

// live refuses an operation on a handle this process has unmapped.
func (h *Handle) live(what string) error {
	if atomic.LoadUint32(&h.unmapped) != 0 {
		return fmt.Errorf("%s block %#x: %w: this handle was unmapped", what, h.ID, ErrNotMapped)
	}
	return nil
}

func (h *Handle) markUnmapped() { atomic.StoreUint32(&h.unmapped, 1) }

// Writable reports whether the handle allows RDMA Writes.
func (h *Handle) Writable() bool { return h.Access&protocol.AccessWrite != 0 }

// WriteAt writes p at offset off of the block with RDMA Writes. When it
// returns the bytes have reached the brick but are not yet persistent: call
// Persist. The handle's own bounds and access are checked first; the brick's
// RNIC checks them again, and a fault there (a key the brick revoked)
// ends the session: the error then matches ErrClosed as well as
// ErrRemoteAccess. It takes no context: a transfer in flight runs to
// completion, and a brick that stops answering is noticed by the
// keep-alive (Options.KeepAlive), which ends the session.
func (h *Handle) WriteAt(p []byte, off int64) (int, error) {
	if err := h.live("write"); err != nil {
		return 0, err
	}
	if !h.Writable() {
		return 0, fmt.Errorf("write block %#x: %w: mapped read-only", h.ID, ErrAccess)
	}
	if err := h.checkRange(off, len(p)); err != nil {
		return 0, err
	}
	return h.transfer(verbs.OpWrite, p, off)
}

// ReadAt reads len(p) bytes at offset off of the block with RDMA Reads.
// Its errors are WriteAt's.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if err := h.live("read"); err != nil {
		return 0, err
	}
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
			return done, fmt.Errorf("rdma %s block %#x at %d: %w", op, h.ID, off+int64(done), c.dataErr(err))
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

// Persist makes the writes in [off, off+n) that WriteAt or WriteFrom has
// returned for persistent, by the handle's method, and returns only once
// the method has completed:
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
// It returns ErrVolatile when the brick's memory cannot be made
// persistent, and ErrAccess for a read-only handle, through which nothing
// was written. ctx bounds a GPSPM request; FLUSH and APM are RDMA
// operations that, once posted, run to completion (see WriteAt), so ctx
// is checked only before they start.
func (h *Handle) Persist(ctx context.Context, off, n int64) error {
	if err := h.live("persist"); err != nil {
		return err
	}
	if !h.Writable() {
		return fmt.Errorf("persist block %#x: %w: mapped read-only", h.ID, ErrAccess)
	}
	if err := h.checkRange(off, int(n)); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
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
		return fmt.Errorf("persist block %#x by %s: %w", h.ID, h.Method, h.c.dataErr(err))
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

// Unmap revokes the handle; a second Unmap is ErrNotMapped, and so is any
// data operation after it. With a brick that offers FeatureUnmapKey it
// names the map by the handle's key, so a handle whose map an
// administrator revoked gets ErrNotMapped and leaves a later map of the
// block by this session alone; an older brick revokes the session's map
// of the block, whichever it is.
func (h *Handle) Unmap(ctx context.Context) error {
	if err := h.live("unmap"); err != nil {
		return err
	}
	keyed := h.c.hello.Features&protocol.FeatureUnmapKey != 0
	err := h.c.unmap(ctx, &protocol.UnmapRequest{ID: h.ID, RKey: h.RKey, Keyed: keyed})
	if err == nil || errors.Is(err, ErrNotMapped) { // revoked by an admin meanwhile: dead too
		h.markUnmapped()
	}
	return err
}

// Free revokes the handle and frees its block: in one round trip (a Free
// with FreeUnmap) when the brick offers it, else as Unmap then Free. A map
// of the block by another session makes it ErrBusy, and Free may be
// called again. The handle still works after that refusal, except with
// a brick older than FreeUnmap: there the Unmap has revoked it. After the
// handle's Unmap, Free frees the block (a plain Free). With a brick that
// offers FeatureUnmapKey, the Free names the handle's map by its key, as
// Unmap does: if an administrator revoked that map and this session has
// mapped the block again, the Free is ErrBusy and the newer map stays.
func (h *Handle) Free(ctx context.Context) error {
	if atomic.LoadUint32(&h.unmapped) != 0 {
		return h.c.Free(ctx, h.ID)
	}
	if h.c.hello.Features&protocol.FeatureFreeUnmap == 0 {
		// A second try finds the handle already unmapped by the first.
		if err := h.Unmap(ctx); err != nil && !errors.Is(err, ErrNotMapped) {
			return err
		}
		return h.c.Free(ctx, h.ID)
	}
	req := &protocol.FreeRequest{ID: h.ID, Flags: protocol.FreeUnmap}
	if h.c.hello.Features&protocol.FeatureUnmapKey != 0 {
		req.Flags, req.RKey = req.Flags|protocol.FreeKeyed, h.RKey
	}
	if _, err := h.c.call(ctx, req); err != nil {
		return fmt.Errorf("free %#x: %w", h.ID, err)
	}
	h.markUnmapped()
	return nil
}
