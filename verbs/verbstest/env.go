package verbstest

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/brick-storage/brick/verbs"
)

const (
	rw = verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead
	// opTimeout bounds any single wait of the suite.
	opTimeout = 20 * time.Second
)

type suite struct {
	p    verbs.Provider // listens
	dial verbs.Provider // dials
	addr string
}

// env is one subtest's world: its listener, connections and regions. Its
// cleanup closes the connections first and then deregisters every region
// that the test did not, checking that Close left them registered.
type env struct {
	t       *testing.T
	s       *suite
	ctx     context.Context
	ln      verbs.Listener
	qps     []verbs.QP
	regions []*region
}

// region is registered memory outside the Go heap.
type region struct {
	mr      verbs.MR
	buf     []byte
	revoked bool // deregistered by the test itself
}

func (s *suite) env(t *testing.T) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	ln, err := s.p.Listen(ctx, s.addr, verbs.ListenConfig{})
	if err != nil {
		cancel()
		t.Fatalf("listen on %s: %v", s.addr, err)
	}
	e := &env{t: t, s: s, ctx: ctx, ln: ln}
	t.Cleanup(func() {
		for _, q := range e.qps {
			q.Close()
		}
		for _, q := range e.qps {
			select {
			case <-q.Done():
			case <-time.After(opTimeout):
				t.Errorf("queue pair to %s did not end after Close", q.RemoteAddr())
			}
		}
		for _, r := range e.regions {
			if !r.revoked {
				if err := r.mr.Deregister(); err != nil {
					t.Errorf("deregister a region after its QP closed: %v", err)
				}
			}
			if err := r.mr.Deregister(); !errors.Is(err, verbs.ErrClosed) {
				t.Errorf("second deregister: %v, want ErrClosed", err)
			}
			if err := verbs.FreeMemory(r.buf); err != nil {
				t.Errorf("free memory: %v", err)
			}
		}
		ln.Close()
		cancel()
	})
	return e
}

// pair is a connected queue pair: c dialled, s accepted.
type pair struct {
	c, s verbs.QP
}

// connect dials the env's listener and accepts, running prepare on the
// passive side before the connection completes.
func (e *env) connect(ccfg, scfg verbs.QPConfig, prepare func(verbs.QP) error) *pair {
	e.t.Helper()
	type res struct {
		qp  verbs.QP
		err error
	}
	ch := make(chan res, 1)
	go func() {
		cr, err := e.ln.Accept(e.ctx)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		qp, err := cr.Accept(scfg, []byte("server-hello"), prepare)
		ch <- res{qp, err}
	}()
	c, err := e.s.dial.Dial(e.ctx, e.ln.Addr(), ccfg, []byte("client-hello"))
	r := <-ch
	e.adopt(c, r.qp, err, r.err)
	return &pair{c: c, s: r.qp}
}

// adopt hands the queue pairs of one dial and its accept to the cleanup,
// then fails the test if either side failed.
func (e *env) adopt(c, s verbs.QP, dialErr, acceptErr error) {
	e.t.Helper()
	for _, q := range []verbs.QP{c, s} {
		if q != nil {
			e.qps = append(e.qps, q)
		}
	}
	if dialErr != nil || acceptErr != nil {
		e.t.Fatalf("dial: %v; accept: %v", dialErr, acceptErr)
	}
}

// region allocates n bytes outside the Go heap and registers them in pd.
func (e *env) region(pd verbs.PD, n int, access verbs.Access) *region {
	e.t.Helper()
	return e.regionWith(pd, n, access, verbs.RegisterOptions{})
}

func (e *env) regionWith(pd verbs.PD, n int, access verbs.Access, opts verbs.RegisterOptions) *region {
	e.t.Helper()
	buf, err := verbs.AllocMemory(n)
	if err != nil {
		e.t.Fatal(err)
	}
	var mr verbs.MR
	if opts == (verbs.RegisterOptions{}) {
		mr, err = pd.Register(buf, access)
	} else {
		mr, err = pd.RegisterWith(buf, access, opts)
	}
	if err != nil {
		verbs.FreeMemory(buf)
		e.t.Fatalf("register %d bytes: %v", n, err)
	}
	if mr.Len() != n {
		e.t.Fatalf("region length %d, want %d", mr.Len(), n)
	}
	r := &region{mr: mr, buf: buf}
	e.regions = append(e.regions, r)
	return r
}

// deregister revokes r now.
func (e *env) deregister(r *region) {
	e.t.Helper()
	if err := r.mr.Deregister(); err != nil {
		e.t.Fatalf("deregister: %v", err)
	}
	r.revoked = true
}

func (r *region) sge(off, n int) verbs.SGE { return verbs.SGEOf(r.mr, off, n) }

// remote is the (rkey, address) of offset off in r, for the peer.
func (r *region) remote(off int) (uint32, uint64) { return r.mr.RKey(), r.mr.Addr() + uint64(off) }

func write(id uint64, src *region, soff, n int, dst *region, doff int) verbs.SendWR {
	k, a := dst.remote(doff)
	return verbs.SendWR{ID: id, Op: verbs.OpWrite, Local: src.sge(soff, n), RKey: k, Remote: a}
}

func read(id uint64, sink *region, soff, n int, src *region, roff int) verbs.SendWR {
	k, a := src.remote(roff)
	return verbs.SendWR{ID: id, Op: verbs.OpRead, Local: sink.sge(soff, n), RKey: k, Remote: a}
}

func (e *env) post(q verbs.QP, wrs ...verbs.SendWR) {
	e.t.Helper()
	for _, wr := range wrs {
		if err := q.PostSend(wr); err != nil {
			e.t.Fatalf("post %v id %d: %v", wr.Op, wr.ID, err)
		}
	}
}

// postUntilClosed posts wrs in order until the QP refuses one because it
// already failed (a fault can come back before the later posts) and
// returns how many it posted.
func (e *env) postUntilClosed(q verbs.QP, wrs ...verbs.SendWR) int {
	e.t.Helper()
	for i, wr := range wrs {
		if err := q.PostSend(wr); err != nil {
			if errors.Is(err, verbs.ErrClosed) {
				return i
			}
			e.t.Fatalf("post %v id %d: %v", wr.Op, wr.ID, err)
		}
	}
	return len(wrs)
}

// waitN collects exactly n completions from cq.
func (e *env) waitN(cq verbs.CQ, n int) []verbs.WC {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, opTimeout)
	defer cancel()
	return WaitN(ctx, e.t, cq, n)
}

// WaitN collects exactly n completions from cq, failing t if ctx ends
// first.
func WaitN(ctx context.Context, t testing.TB, cq verbs.CQ, n int) []verbs.WC {
	t.Helper()
	out := make([]verbs.WC, 0, n)
	wcs := make([]verbs.WC, 16)
	for len(out) < n {
		k, err := cq.Wait(ctx, wcs[:min(len(wcs), n-len(out))])
		if err != nil {
			t.Fatalf("waiting for %d completions, have %d %v: %v", n, len(out), out, err)
		}
		out = append(out, wcs[:k]...)
	}
	return out
}

// want checks completions against IDs and statuses, in order.
func (e *env) want(wcs []verbs.WC, ids []uint64, sts ...verbs.Status) {
	e.t.Helper()
	if len(wcs) != len(sts) {
		e.t.Fatalf("got %d completions %+v, want %d", len(wcs), wcs, len(sts))
	}
	for i, wc := range wcs {
		if wc.ID != ids[i] || wc.Status != sts[i] {
			e.t.Fatalf("completion %d = {ID %d %v %v}, want ID %d %v", i, wc.ID, wc.Op, wc.Status, ids[i], sts[i])
		}
	}
}

func seq(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i)
	}
	return ids
}

func repeat(st verbs.Status, n int) []verbs.Status {
	out := make([]verbs.Status, n)
	for i := range out {
		out[i] = st
	}
	return out
}

func (e *env) waitDone(q verbs.QP, what string) {
	e.t.Helper()
	select {
	case <-q.Done():
	case <-time.After(opTimeout):
		e.t.Fatalf("%s queue pair did not disconnect", what)
	}
}

func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}
