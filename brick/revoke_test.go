package brick_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// stallGate makes the brick's revocation of one key wait, as the software
// RNIC's did while a peer that stopped reading held up a Read Response
// through the key: until the gate is released or the key's queue pair is
// closed.
type stallGate struct {
	mu struct {
		sync.Mutex
		rkey    uint32 // the key whose revocation stalls; 0: none
		entered bool
	}
	entered chan struct{} // closed when the revocation starts waiting
	release chan struct{} // closed to let it go on
	once    sync.Once
}

func newStallGate(t *testing.T) *stallGate {
	g := &stallGate{entered: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(g.open) // before the brick's cleanup: it waits for its sessions
	return g
}

func (g *stallGate) arm(rkey uint32) {
	g.mu.Lock()
	g.mu.rkey = rkey
	g.mu.Unlock()
}

func (g *stallGate) open() { g.once.Do(func() { close(g.release) }) }

// stall blocks a revocation of key until release or done.
func (g *stallGate) stall(key uint32, done <-chan struct{}) {
	g.mu.Lock()
	hit := key == g.mu.rkey && !g.mu.entered
	g.mu.entered = g.mu.entered || hit
	g.mu.Unlock()
	if !hit {
		return
	}
	close(g.entered)
	select {
	case <-g.release:
	case <-done:
	}
}

// stallListener wraps the brick's listener so that its queue pairs' memory
// windows revoke through g.
type stallListener struct {
	verbs.Listener
	g *stallGate
}

func (l stallListener) Accept(ctx context.Context) (verbs.ConnRequest, error) {
	r, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return stallReq{r, l.g}, nil
}

type stallReq struct {
	verbs.ConnRequest
	g *stallGate
}

func (r stallReq) Accept(cfg verbs.QPConfig, pd []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	var sq verbs.QP
	if _, err := r.ConnRequest.Accept(cfg, pd, func(q verbs.QP) error {
		sq = stallQP{q, r.g}
		return prepare(sq)
	}); err != nil {
		return nil, err
	}
	return sq, nil
}

type stallQP struct {
	verbs.QP
	g *stallGate
}

func (q stallQP) BindMW(mr verbs.MR, off, length int, access verbs.Access) (verbs.MW, error) {
	mw, err := q.QP.BindMW(mr, off, length, access)
	if err != nil {
		return nil, err
	}
	return stallMW{mw, q}, nil
}

type stallMW struct {
	verbs.MW
	qp stallQP
}

func (w stallMW) Invalidate() error {
	w.qp.g.stall(w.RKey(), w.qp.Done())
	return w.MW.Invalidate()
}

// stalledUnmap maps block id read-write in a session of its own and starts
// unmapping it with the revocation stalled; it returns the session and
// the Unmap's result to come.
func stalledUnmap(t *testing.T, e *env, g *stallGate, id uint64) (*client.Client, <-chan error) {
	t.Helper()
	return stalledRevocation(t, e, g, id, protocol.MapReadWrite, (*client.Handle).Unmap)
}

// stalledRevocation is stalledUnmap for a map with flags, revoked by
// release (Handle.Unmap, or Handle.Free with FreeUnmap).
func stalledRevocation(t *testing.T, e *env, g *stallGate, id uint64, flags uint32, release func(*client.Handle, context.Context) error) (*client.Client, <-chan error) {
	t.Helper()
	peer := e.dial()
	wantErr(t, "alloc", peer.Alloc(e.ctx, id), nil)
	h, err := peer.Map(e.ctx, id, flags)
	if err != nil {
		t.Fatal(err)
	}
	g.arm(h.RKey)
	released := make(chan error, 1)
	go func() { released <- release(h, e.ctx) }()
	select {
	case <-g.entered:
	case err := <-released:
		t.Fatalf("the revocation returned (%v) without revoking through the memory window", err)
	case <-e.ctx.Done():
		t.Fatal("the revocation never started")
	}
	return peer, released
}

// TestUnmapStallHoldsNoStripe: while one peer's Unmap waits for its key's
// revocation, verbs of other sessions on blocks of the same stripe
// complete, and the block being unmapped still counts as mapped (its key
// may still work).
func TestUnmapStallHoldsNoStripe(t *testing.T) {
	g := newStallGate(t)
	e := newEnv(t, envOpts{frames: 8, wrap: func(l verbs.Listener) verbs.Listener { return stallListener{l, g} }})
	const x = block
	const y = x + 64*block // x's stripe (brick.go: 64 stripes by block number)
	_, unmapped := stalledUnmap(t, e, g, x)

	other := e.dial()
	// Each verb gets a bound far above what it takes; a brick that held
	// x's stripe while it waited on the peer would hold it for as long as
	// the stall lasts, here forever.
	verbs := []struct {
		name string
		do   func(context.Context) error
		want error
	}{
		{"alloc y", func(ctx context.Context) error { return other.Alloc(ctx, y) }, nil},
		{"map y", func(ctx context.Context) error { _, err := other.Map(ctx, y, protocol.MapReadWrite); return err }, nil},
		{"unmap y", func(ctx context.Context) error { return other.Unmap(ctx, y) }, nil},
		{"free y", func(ctx context.Context) error { return other.Free(ctx, y) }, nil},
		{"free x", func(ctx context.Context) error { return other.Free(ctx, x) }, protocol.ErrBusy},
		{"map x", func(ctx context.Context) error { _, err := other.Map(ctx, x, protocol.MapReadWrite); return err }, protocol.ErrBusy},
	}
	for _, v := range verbs {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		err := v.do(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s waited on another session's stalled revocation", v.name)
		}
		wantErr(t, v.name, err, v.want)
	}
	select {
	case err := <-unmapped:
		t.Fatalf("the stalled unmap returned early: %v", err)
	default:
	}

	g.open() // the peer takes its data again
	if err := <-unmapped; err != nil {
		t.Fatalf("unmap after the stall: %v", err)
	}
	if _, err := other.Map(e.ctx, x, protocol.MapReadWrite); err != nil {
		t.Fatalf("map x after its unmap: %v", err)
	}
}

// TestFreeUnmapStall: while a Free with FreeUnmap waits for the caller's
// key to die, another session may not map the block, even read-only beside
// the caller's read-only map: the Free then frees it.
func TestFreeUnmapStall(t *testing.T) {
	g := newStallGate(t)
	e := newEnv(t, envOpts{frames: 8, wrap: func(l verbs.Listener) verbs.Listener { return stallListener{l, g} }})
	_, freed := stalledRevocation(t, e, g, block, protocol.MapReadOnly, (*client.Handle).Free)
	other := e.dial()
	_, err := other.Map(e.ctx, block, protocol.MapReadOnly)
	wantErr(t, "another session maps the block being freed", err, protocol.ErrBusy)
	g.open()
	wantErr(t, "the free after the stall", <-freed, nil)
	_, err = other.Map(e.ctx, block, protocol.MapReadOnly)
	wantErr(t, "a map of the freed block", err, protocol.ErrNotFound)
}

// TestUnmapStallBounded: a revocation that waits on its peer past the
// session timeout ends that session, which lets the revocation finish;
// the block is then free to map.
func TestUnmapStallBounded(t *testing.T) {
	g := newStallGate(t)
	lb := &logBuffer{}
	const bound = 500 * time.Millisecond
	e := newEnv(t, envOpts{frames: 8, timeout: bound, log: lb, wrap: func(l verbs.Listener) verbs.Listener { return stallListener{l, g} }})
	start := time.Now()
	peer, unmapped := stalledUnmap(t, e, g, block)
	select {
	case <-peer.Done():
	case <-e.ctx.Done():
		t.Fatal("the brick kept the session whose revocation stalled")
	}
	if d := time.Since(start); d < bound {
		t.Fatalf("session ended after %v, before the %v bound", d, bound)
	}
	if err := <-unmapped; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("stalled unmap: %v, want the session closed", err)
	}
	e.waitLog(lb, "session ended", "revocation waited on the peer too long")
	e.waitSessions(0)
	if _, err := e.dial().Map(e.ctx, block, protocol.MapReadWrite); err != nil {
		t.Fatalf("map after the stalled session ended: %v", err)
	}
}
