package client

// The message path: requests go out from registered send slots under a
// credit each, replies come back into receive slots and are matched to
// their callers by request ID.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// awaitReply waits for the reply to come on ch. While no other caller
// reaps the receive CQ it reaps it itself (it holds recvTurn), handing the
// other callers their replies: as with reapSend, the goroutine that waits
// for a reply usually takes it off the CQ itself, with no goroutine in
// between to wake. Once it has its reply it passes the turn on to a
// caller still waiting, if any.
func (c *Client) awaitReply(ctx context.Context, ch chan reply) (reply, error) {
	for {
		select {
		case r := <-ch:
			return r, nil
		case <-c.recvTurn:
			r, err := c.reapUntil(ctx, ch)
			c.recvTurn <- struct{}{}
			if err == nil || ctx.Err() != nil {
				return r, err
			}
		case <-ctx.Done():
			return reply{}, ctx.Err()
		}
	}
}

// reapUntil reaps the receive CQ, its caller holding recvTurn, until the
// reply on ch has come or ctx ends. When the queue pair has ended and its
// receives are drained, fail gives ch its error.
func (c *Client) reapUntil(ctx context.Context, ch chan reply) (reply, error) {
	for {
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		n, err := c.qp.RecvCQ().Wait(ctx, c.recvWCs)
		if err != nil {
			if ctx.Err() != nil {
				return reply{}, ctx.Err()
			}
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			continue
		}
		c.dispatch(c.recvWCs[:n])
	}
}

// watch drains the receive CQ once the queue pair has ended, whether or
// not a caller is waiting: a reply the brick sent just before it closed
// the session (a refusal, say) still reaches its caller, and the session
// is failed only then. It waits for the reaping turn like any caller.
func (c *Client) watch() {
	defer c.wg.Done()
	<-c.qp.Done()
	<-c.recvTurn
	defer func() { c.recvTurn <- struct{}{} }()
	for {
		n, err := c.qp.RecvCQ().Wait(context.Background(), c.recvWCs)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		c.dispatch(c.recvWCs[:n])
	}
}

// dispatch hands reaped replies to their callers. Its caller holds
// recvTurn.
func (c *Client) dispatch(wcs []verbs.WC) {
	for _, wc := range wcs {
		if err := wc.Err(); err != nil {
			c.qp.Close() // the rest are flushed
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			continue
		}
		frame := c.recv.Buf(int(wc.ID))[:wc.ByteLen]
		h, m, err := protocol.Decode(frame)
		if err != nil {
			c.qp.Close()
			c.fail(fmt.Errorf("brick sent a malformed reply: %w", err))
			continue
		}
		// Reposted before the credit goes back (the brick may answer the
		// next request at once), but a failed repost — the brick ended the
		// session right after this reply, a refusal say — must not cost
		// the caller that reply.
		repost := c.postRecv(int(wc.ID))
		c.lastRecv.Store(time.Now().UnixNano())
		c.mu.Lock()
		ch, ok := c.mu.replies[h.ReqID]
		delete(c.mu.replies, h.ReqID)
		c.mu.Unlock()
		if ok {
			c.credits <- struct{}{}
			ch <- reply{h: h, m: m}
		}
		if repost != nil {
			c.qp.Close()
			c.fail(fmt.Errorf("%w: %v", ErrClosed, repost))
		}
	}
}

// reapSend waits for send completions and hands them out: message slots
// back to sendSlots, data completions to their waiters. Only the holder
// of the sendTurn token calls it, so the goroutine that waits for a
// completion usually takes it off the CQ itself, with no goroutine in
// between to wake (a wake-up costs microseconds on a busy machine). When
// the CQ is drained (the session ended) the data waiters left are failed.
//
// Reply waiters are failed only by the reaper of the receive CQ (a
// caller in awaitReply, or watch), once the receive queue is
// drained: a reply the brick sent just before it closed the session (a
// refusal, say) must reach its caller rather than lose a race with the
// send side noticing the close.
func (c *Client) reapSend(ctx context.Context) error {
	n, err := c.qp.SendCQ().Wait(ctx, c.sendWCs)
	if err != nil {
		if ctx.Err() == nil {
			c.failData()
		}
		return err
	}
	c.handOut(c.sendWCs[:n])
	return nil
}

// handOut gives reaped send completions to their owners. The caller holds
// the sendTurn token.
func (c *Client) handOut(wcs []verbs.WC) {
	for _, wc := range wcs {
		if wc.ID&msgWR != 0 {
			c.sendSlots <- int(wc.ID &^ msgWR)
			if wc.Err() != nil {
				c.qp.Close() // the receive side drains and fails the waiters
			}
			continue
		}
		c.mu.Lock()
		ch, ok := c.mu.data[wc.ID]
		delete(c.mu.data, wc.ID)
		c.mu.Unlock()
		if ok {
			ch <- wc
		}
	}
}

// pollSend reaps the send CQ without waiting, if nobody else is reaping.
// takeSlot calls it once half the message slots are out, not per request:
// an empty Poll asks a software RNIC for a completion fence, a Read the
// brick must serve.
func (c *Client) pollSend() {
	select {
	case <-c.sendTurn:
	default:
		return
	}
	n := c.qp.SendCQ().Poll(c.sendWCs)
	c.handOut(c.sendWCs[:n])
	c.sendTurn <- struct{}{}
}

// takeSlot returns a free message send slot, reaping the send CQ for one
// when none is free and nobody else is reaping.
func (c *Client) takeSlot(ctx context.Context) (int, error) {
	if 2*len(c.sendSlots) <= c.depth {
		c.pollSend()
	}
	for {
		select {
		case slot := <-c.sendSlots:
			return slot, nil
		case <-c.sendTurn:
			select {
			case slot := <-c.sendSlots:
				c.sendTurn <- struct{}{}
				return slot, nil
			default:
			}
			err := c.reapSend(ctx)
			c.sendTurn <- struct{}{}
			if err != nil {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				return 0, fmt.Errorf("%w: %v", ErrClosed, err)
			}
		case <-c.done:
			return 0, c.Err()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// call sends one request and waits for its reply.
func (c *Client) call(ctx context.Context, req protocol.Message) (protocol.Message, error) {
	select {
	case <-c.credits:
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	slot, err := c.takeSlot(ctx)
	if err != nil {
		c.credits <- struct{}{}
		return nil, err
	}
	id := c.nextReq.Add(1)
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.mu.err != nil {
		c.mu.Unlock()
		return nil, c.mu.err
	}
	if len(c.mu.replies) == 0 {
		// The brick's silence counts from when we start waiting on it.
		c.lastRecv.Store(time.Now().UnixNano())
	}
	c.mu.replies[id] = ch
	// Still under c.mu: release frees the message buffers under it, and
	// only once c.mu.err is set.
	n, err := protocol.Encode(c.send.Buf(slot), req.Type(), protocol.StatusOK, id, req)
	if err == nil {
		err = c.qp.PostSend(verbs.SendWR{ID: msgWR | uint64(slot), Op: verbs.OpSend, Local: c.send.SGE(slot, n)})
		c.lastSend.Store(time.Now().UnixNano())
	}
	if err != nil {
		delete(c.mu.replies, id)
	}
	c.mu.Unlock()
	if err != nil {
		c.sendSlots <- slot
		c.credits <- struct{}{}
		return nil, fmt.Errorf("brick: send %s request: %w", req.Type(), closedErr(err))
	}
	// A caller that gives up leaves the entry: the reply still returns the
	// credit when it arrives.
	r, err := c.awaitReply(ctx, ch)
	switch {
	case err != nil:
		return nil, err
	case r.err != nil:
		return nil, r.err
	case r.h.Type != req.Type()|protocol.ReplyBit:
		return nil, fmt.Errorf("%w: %s request answered by %s", protocol.ErrProtocol, req.Type(), r.h.Type)
	}
	if err := r.h.Status.Err(); err != nil {
		return nil, err
	}
	return r.m, nil
}

// closedErr makes an error that means the session is gone (the queue pair
// closed, or work flushed because it broke) also match ErrClosed, so that
// callers test one sentinel whatever the operation was doing.
func closedErr(err error) error {
	if (errors.Is(err, verbs.ErrClosed) || errors.Is(err, verbs.ErrFlushed)) && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}
