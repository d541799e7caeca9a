package soft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/brick-storage/brick/internal/leaktest"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/verbstest"
)

// TestMain fails the run if goroutines outlive the tests, or fds leak
// (internal/leaktest: the one leak check of the module).
func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pair is a connected client/server queue pair over loopback.
type pair struct {
	c, s *QP
	ln   verbs.Listener
}

func listen(t testing.TB) verbs.Listener { return listenWith(t, provider{}) }

func listenWith(t testing.TB, prov provider) verbs.Listener {
	t.Helper()
	ln, err := prov.Listen(testCtx(t), "127.0.0.1:0", verbs.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func newPair(t testing.TB, ccfg, scfg verbs.QPConfig, prepare func(verbs.QP) error) *pair {
	t.Helper()
	return newPairWith(t, provider{}, provider{}, ccfg, scfg, prepare)
}

// newPairWith connects a client of provider dial to a server of listen.
func newPairWith(t testing.TB, dial, listen provider, ccfg, scfg verbs.QPConfig, prepare func(verbs.QP) error) *pair {
	t.Helper()
	ctx := testCtx(t)
	ln := listenWith(t, listen)
	type res struct {
		qp  verbs.QP
		err error
	}
	ch := make(chan res, 1)
	go func() {
		cr, err := ln.Accept(ctx)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		if string(cr.PrivateData()) != "client-hello" {
			cr.Reject(nil)
			ch <- res{nil, fmt.Errorf("request private data %q", cr.PrivateData())}
			return
		}
		qp, err := cr.Accept(scfg, []byte("server-hello"), prepare)
		ch <- res{qp, err}
	}()
	c, err := dial.Dial(ctx, ln.Addr(), ccfg, []byte("client-hello"))
	r := <-ch
	if err != nil || r.err != nil {
		t.Fatalf("dial: %v, accept: %v", err, r.err)
	}
	p := &pair{c: c.(*QP), s: r.qp.(*QP), ln: ln}
	t.Cleanup(func() {
		p.c.Close()
		p.s.Close()
	})
	if string(p.c.PrivateData()) != "server-hello" {
		t.Fatalf("accept private data %q", p.c.PrivateData())
	}
	// With MPA revision 2 the client's RTR (a zero-length Read) is in
	// flight: wait for its response, so that tests see a quiet server
	// (hooks hear no ReadServed from it).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		p.c.mu.Lock()
		idle := !p.c.rtr && p.c.orqHead == p.c.orqTail
		p.c.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the RTR was not answered")
		}
	}
	return p
}

// region registers a fresh heap buffer and deregisters it at cleanup.
func region(t testing.TB, pd verbs.PD, n int, access verbs.Access) (verbs.MR, []byte) {
	t.Helper()
	buf := make([]byte, n)
	mr, err := pd.Register(buf, access)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mr.Deregister() })
	return mr, buf
}

const rw = verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead

// waitN collects exactly n completions from cq.
func waitN(t testing.TB, cq verbs.CQ, n int) []verbs.WC {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return verbstest.WaitN(ctx, t, cq, n)
}

func waitDone(t testing.TB, q verbs.QP) {
	t.Helper()
	select {
	case <-q.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("queue pair did not end")
	}
}

func mustPost(t testing.TB, q verbs.QP, wr verbs.SendWR) {
	t.Helper()
	if err := q.PostSend(wr); err != nil {
		t.Fatal(err)
	}
}

func wantStatuses(t testing.TB, wcs []verbs.WC, want ...verbs.Status) {
	t.Helper()
	if len(wcs) != len(want) {
		t.Fatalf("got %d completions %v, want %d", len(wcs), wcs, len(want))
	}
	for i, wc := range wcs {
		if wc.ID != uint64(i) || wc.Status != want[i] {
			t.Fatalf("completion %d = %+v (%v), want ID %d status %v", i, wc, wc.Status, i, want[i])
		}
	}
}

func isClosed(err error) bool { return errors.Is(err, verbs.ErrClosed) }

// syncMR orders the caller after every placement into m so far, which the
// race detector cannot infer through the socket.
func syncMR(m verbs.MR) {
	m.(*mr).mu.Lock()
	m.(*mr).mu.Unlock()
}

// postAll posts wrs in order until the QP refuses one because it already
// failed (a fault can come back before the later posts); it returns how
// many were posted.
func postAll(t testing.TB, q verbs.QP, wrs ...verbs.SendWR) int {
	t.Helper()
	for i, wr := range wrs {
		if err := q.PostSend(wr); err != nil {
			if isClosed(err) {
				return i
			}
			t.Fatal(err)
		}
	}
	return len(wrs)
}

// stormTarget is what a storm writes into: a region or a window.
type stormTarget interface {
	RKey() uint32
	Addr() uint64
}

// writeStorm keeps q's send queue full of Writes from src, of 1 B to
// size/4, into the four quarters of size bytes at remote, until q fails.
// It returns once warm Writes have completed, with a channel closed when
// the storm ends: the revocation races run against it.
func writeStorm(ctx context.Context, q verbs.QP, src verbs.MR, remote stormTarget, size, warm int) <-chan struct{} {
	started := make(chan struct{})
	stormDone := make(chan struct{})
	go func() {
		defer close(stormDone)
		started := started
		wcs := make([]verbs.WC, 16)
		var id uint64
		completed := 0
		for {
			for {
				n := 1 + int(id%4)*(size/4-1)/3 // sizes from 1 B to size/4
				err := q.PostSend(verbs.SendWR{ID: id, Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, n), RKey: remote.RKey(), Remote: remote.Addr() + uint64(int(id)%4*(size/4))})
				if errors.Is(err, verbs.ErrQueueFull) {
					break
				}
				if err != nil {
					return
				}
				id++
			}
			k, err := q.SendCQ().Wait(ctx, wcs)
			if err != nil {
				return
			}
			completed += k
			if completed >= warm && started != nil {
				close(started)
				started = nil
			}
		}
	}()
	<-started
	return stormDone
}
