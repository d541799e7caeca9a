package brick_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// recvWatch observes a brick's queue pairs: the receives it posts, the
// receive completions it takes, and at each Send it posts (a reply) how
// many receives were posted and not yet consumed.
type recvWatch struct {
	mu       sync.Mutex
	posted   int
	consumed int
	atSend   []int // posted-consumed at each reply
}

func (w *recvWatch) listener(l verbs.Listener) verbs.Listener { return watchListener{l, w} }

type watchListener struct {
	verbs.Listener
	w *recvWatch
}

func (l watchListener) Accept(ctx context.Context) (verbs.ConnRequest, error) {
	r, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return watchReq{r, l.w}, nil
}

type watchReq struct {
	verbs.ConnRequest
	w *recvWatch
}

func (r watchReq) Accept(cfg verbs.QPConfig, pd []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	var wq *watchQP
	if _, err := r.ConnRequest.Accept(cfg, pd, func(q verbs.QP) error {
		wq = &watchQP{QP: q, w: r.w}
		return prepare(wq)
	}); err != nil {
		return nil, err
	}
	return wq, nil
}

type watchQP struct {
	verbs.QP
	w *recvWatch
}

func (q *watchQP) PostRecv(wr verbs.RecvWR) error {
	q.w.mu.Lock()
	q.w.posted++
	q.w.mu.Unlock()
	return q.QP.PostRecv(wr)
}

func (q *watchQP) PostSend(wr verbs.SendWR) error {
	if wr.Op == verbs.OpSend {
		q.w.mu.Lock()
		q.w.atSend = append(q.w.atSend, q.w.posted-q.w.consumed)
		q.w.mu.Unlock()
	}
	return q.QP.PostSend(wr)
}

func (q *watchQP) RecvCQ() verbs.CQ { return watchCQ{q.QP.RecvCQ(), q.w} }

type watchCQ struct {
	verbs.CQ
	w *recvWatch
}

func (c watchCQ) count(wcs []verbs.WC) {
	c.w.mu.Lock()
	defer c.w.mu.Unlock()
	for _, wc := range wcs {
		if wc.Status == verbs.StatusSuccess {
			c.w.consumed++
		}
	}
}

func (c watchCQ) Poll(wcs []verbs.WC) int {
	n := c.CQ.Poll(wcs)
	c.count(wcs[:n])
	return n
}

func (c watchCQ) Wait(ctx context.Context, wcs []verbs.WC) (int, error) {
	n, err := c.CQ.Wait(ctx, wcs)
	c.count(wcs[:n])
	return n, err
}

// TestReplyAfterRepost: the brick reposts a request's receive before it
// posts the reply. The reply hands the client its credit back, and the
// client may spend it on a Send at once; if the receive were reposted only
// after the reply, that Send could find no receive posted and the RNIC
// would end the session. A client that waits for each reply must
// therefore see all depth receives posted whenever a reply is posted —
// for verbs served by the worker and for requests served inline alike.
func TestReplyAfterRepost(t *testing.T) {
	const depth = 4
	key := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		name string
		opts envOpts
		key  []byte
		op   func(ctx context.Context, c *client.Client) error
	}{
		{name: "ping (inline)", op: func(ctx context.Context, c *client.Client) error { return c.Ping(ctx) }},
		{name: "status (worker)", op: func(ctx context.Context, c *client.Client) error { _, err := c.Status(ctx); return err }},
		{name: "refused verb (worker)", op: func(ctx context.Context, c *client.Client) error {
			if err := c.Free(ctx, 0); !errors.Is(err, client.ErrNotFound) {
				return err
			}
			return nil
		}},
		{name: "persist (inline)", opts: envOpts{file: true}, op: func(ctx context.Context, c *client.Client) error {
			if err := c.Alloc(ctx, 0); err != nil {
				return err
			}
			h, err := c.Map(ctx, 0, protocol.MapReadWrite)
			if err != nil {
				return err
			}
			if err := h.Persist(ctx, 0, 4096); err != nil {
				return err
			}
			if err := h.Unmap(ctx); err != nil {
				return err
			}
			return c.Free(ctx, 0)
		}},
		{name: "auth (inline)", opts: envOpts{authKey: key}, key: key, op: func(ctx context.Context, c *client.Client) error { return c.Ping(ctx) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &recvWatch{}
			tc.opts.depth = depth
			tc.opts.wrap = w.listener
			e := newEnv(t, tc.opts)
			c, err := client.Dial(e.ctx, e.addr, client.Options{AuthKey: tc.key, KeepAlive: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := 0; i < 5; i++ {
				if err := tc.op(e.ctx, c); err != nil {
					t.Fatalf("op %d: %v", i, err)
				}
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if len(w.atSend) == 0 {
				t.Fatal("the brick posted no reply")
			}
			for i, n := range w.atSend {
				if n != depth {
					t.Fatalf("reply %d was posted with %d receives posted, want all %d (the request's receive is reposted late)", i, n, depth)
				}
			}
		})
	}
}

// TestPipelineAtFullDepth: clients that keep every credit in use never
// find the brick without a receive posted.
func TestPipelineAtFullDepth(t *testing.T) {
	e := newEnv(t, envOpts{depth: 2})
	c := e.dial()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				var err error
				if i%2 == 0 {
					err = c.Ping(e.ctx)
				} else {
					_, err = c.Status(e.ctx)
				}
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
