package soft

import (
	"context"
	"fmt"
	"sync"

	"github.com/brick-storage/brick/verbs"
)

// cq is a completion queue: a growable ring (it holds at most the work
// requests the local user posted and has not polled, so the peer cannot
// grow it), a one-slot wake-up channel and a closed flag set when the QP
// has ended and every completion has been queued.
type cq struct {
	mu     sync.Mutex
	ring   []verbs.WC
	head   int
	n      int
	closed bool

	notify chan struct{} // cap 1: "something changed"
	// onEmpty, if set, is called (without mu) when a Poll finds nothing:
	// the send CQ's asks its QP for a completion fence.
	onEmpty func()
	done    chan struct{} // closed with closed
}

func newCQ(depth int) *cq {
	return &cq{
		ring:   make([]verbs.WC, max(depth, 4)),
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
}

func (c *cq) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// pushLocked appends wc; c.mu must be held.
func (c *cq) pushLocked(wc verbs.WC) {
	if c.n == len(c.ring) {
		bigger := make([]verbs.WC, 2*len(c.ring))
		for i := range c.n {
			bigger[i] = c.ring[(c.head+i)%len(c.ring)]
		}
		c.ring, c.head = bigger, 0
	}
	c.ring[(c.head+c.n)%len(c.ring)] = wc
	c.n++
}

func (c *cq) push(wc verbs.WC) {
	c.mu.Lock()
	c.pushLocked(wc)
	c.mu.Unlock()
	c.wake()
}

// close marks the queue final; completions already queued stay pollable.
func (c *cq) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	c.mu.Unlock()
	c.wake()
}

func (c *cq) Poll(wcs []verbs.WC) int {
	c.mu.Lock()
	n := 0
	for n < len(wcs) && c.n > 0 {
		wcs[n] = c.ring[c.head]
		c.head = (c.head + 1) % len(c.ring)
		c.n--
		n++
	}
	more := c.n > 0
	c.mu.Unlock()
	if more {
		c.wake() // pass the wake-up on to another waiter
	}
	if n == 0 && c.onEmpty != nil {
		c.onEmpty()
	}
	return n
}

func (c *cq) Wait(ctx context.Context, wcs []verbs.WC) (int, error) {
	if len(wcs) == 0 {
		return 0, fmt.Errorf("%w: Wait with an empty slice", verbs.ErrInvalid)
	}
	for {
		if n := c.Poll(wcs); n > 0 {
			return n, nil
		}
		c.mu.Lock()
		drained := c.closed && c.n == 0
		c.mu.Unlock()
		if drained {
			return 0, fmt.Errorf("soft: completion queue drained: %w", verbs.ErrClosed)
		}
		select {
		case <-c.notify:
		case <-c.done:
			// Loop once more to drain what was queued before close.
			if n := c.Poll(wcs); n > 0 {
				return n, nil
			}
			return 0, fmt.Errorf("soft: completion queue drained: %w", verbs.ErrClosed)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}
