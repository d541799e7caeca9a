package brick

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// The session's send side: replies go out from registered send slots,
// which come back as their send completions are reaped.

// sendReply encodes a reply into a free send slot and posts it.
func (ss *session) sendReply(t protocol.Type, st protocol.Status, reqID uint64, m protocol.Message) error {
	slot, err := ss.sendSlot()
	if err != nil {
		return err
	}
	n, err := protocol.Encode(ss.sendSlots.Buf(slot), t, st, reqID, m)
	if err != nil {
		ss.releaseSlot(slot)
		return fmt.Errorf("brick: encode %s: %w", t, err)
	}
	return ss.qp.PostSend(verbs.SendWR{ID: uint64(slot), Op: verbs.OpSend, Local: ss.sendSlots.SGE(slot, n)})
}

// sendSlot returns a free send buffer, reaping send completions (waiting
// for one if every slot is in flight).
func (ss *session) sendSlot() (int, error) {
	ss.send.Lock()
	defer ss.send.Unlock()
	var wcs [8]verbs.WC
	for len(ss.send.free) == 0 {
		// Every slot holds a reply the peer has not taken. A peer that
		// stopped reading must not pin the session forever: it gets the
		// session timeout to take one.
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if ss.srv.timeout > 0 {
			ctx, cancel = context.WithTimeout(ctx, ss.srv.timeout)
		}
		n, err := ss.qp.SendCQ().Wait(ctx, wcs[:])
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("%w: no reply taken within %v (session timeout)", errSilent, ss.srv.timeout)
		}
		if err != nil {
			return 0, err
		}
		ss.reapLocked(wcs[:n])
	}
	// Reap early, without waiting, only once half the slots are out: an
	// empty Poll asks a software RNIC for a completion fence (a Read the
	// client must serve), which per reply would double the messages.
	if 2*len(ss.send.free) <= ss.srv.depth {
		if n := ss.qp.SendCQ().Poll(wcs[:]); n > 0 {
			ss.reapLocked(wcs[:n])
		}
	}
	slot := ss.send.free[len(ss.send.free)-1]
	ss.send.free = ss.send.free[:len(ss.send.free)-1]
	return slot, nil
}

func (ss *session) releaseSlot(slot int) {
	ss.send.Lock()
	ss.send.free = append(ss.send.free, slot)
	ss.send.Unlock()
}

func (ss *session) reapLocked(wcs []verbs.WC) {
	for _, wc := range wcs {
		ss.send.free = append(ss.send.free, int(wc.ID))
	}
}

// drainSends waits until every posted send has completed, or d passes.
func (ss *session) drainSends(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ss.send.Lock()
	defer ss.send.Unlock()
	var wcs [8]verbs.WC
	for len(ss.send.free) < ss.srv.depth {
		n, err := ss.qp.SendCQ().Wait(ctx, wcs[:])
		if err != nil {
			return
		}
		ss.reapLocked(wcs[:n])
	}
}
