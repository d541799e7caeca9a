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

// recvLoop takes replies off the receive CQ and hands each to its caller.
func (c *Client) recvLoop() {
	defer c.wg.Done()
	wcs := make([]verbs.WC, c.depth)
	for {
		n, err := c.qp.RecvCQ().Wait(context.Background(), wcs)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
			return
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				c.fail(fmt.Errorf("%w: %v", ErrClosed, err))
				return
			}
			frame := c.recv.Buf(int(wc.ID))[:wc.ByteLen]
			h, m, err := protocol.Decode(frame)
			if err != nil {
				c.qp.Close()
				c.fail(fmt.Errorf("brick sent a malformed reply: %w", err))
				return
			}
			// Reposted before the credit goes back (the brick may answer
			// the next request at once), but a failed repost — the brick
			// ended the session right after this reply, a refusal say —
			// must not cost the caller that reply.
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
				c.fail(fmt.Errorf("%w: %v", ErrClosed, repost))
				return
			}
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
// Reply waiters are failed by recvLoop alone, once the receive queue is
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
				c.qp.Close() // recvLoop drains and fails the waiters
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

// call sends one request and waits for its reply. A ctx already done
// sends nothing.
func (c *Client) call(ctx context.Context, req protocol.Message) (protocol.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		if r.h.Type != req.Type()|protocol.ReplyBit {
			return nil, fmt.Errorf("%w: %s request answered by %s", protocol.ErrProtocol, req.Type(), r.h.Type)
		}
		if err := r.h.Status.Err(); err != nil {
			return nil, err
		}
		return r.m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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

// dataErr is what a data operation returns for err. A failed completion
// (a remote access fault, a flush) has put the queue pair in error, which
// ends the session: the client is failed at once, so that Err and Done
// say so before the receive loop notices, and the error matches ErrClosed
// as well as its own sentinel.
func (c *Client) dataErr(err error) error {
	if errors.Is(err, verbs.ErrCompletion) {
		if !errors.Is(err, ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		c.fail(fmt.Errorf("a data transfer failed, which ends the session: %w", err))
		return err
	}
	return closedErr(err)
}
