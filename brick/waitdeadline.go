package brick

import (
	"context"
	"time"
)

// waitDeadline is the receive loop's wait context. One context serves
// waits while its deadline is no later than the one wanted: the deadlines
// only move later as requests arrive, and a context that expires early
// only sends the loop round its checks once more. A context (and its
// timer) per wait cost more than decoding the request.
type waitDeadline struct {
	ctx      context.Context
	deadline time.Time
	cancel   context.CancelFunc
}

// context returns a context of parent that expires no later than deadline
// (never, if deadline is zero).
func (w *waitDeadline) context(parent context.Context, deadline time.Time) context.Context {
	if deadline.IsZero() {
		w.stop()
		return parent
	}
	if w.ctx != nil && !w.deadline.After(deadline) && w.ctx.Err() == nil {
		return w.ctx
	}
	w.stop()
	w.ctx, w.cancel = context.WithDeadline(parent, deadline)
	w.deadline = deadline
	return w.ctx
}

func (w *waitDeadline) stop() {
	if w.cancel != nil {
		w.cancel()
	}
	*w = waitDeadline{}
}
