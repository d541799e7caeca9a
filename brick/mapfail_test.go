package brick_test

import (
	"context"
	"errors"
	"testing"

	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/verbs"
)

// failingFrames wraps the brick's listener so that registering pmem (frames
// or the window region, both through RegisterWith) fails, while message
// buffers (Register) work.
type failingFrames struct{ verbs.Listener }

func (l failingFrames) Accept(ctx context.Context) (verbs.ConnRequest, error) {
	r, err := l.Listener.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return failingReq{r}, nil
}

type failingReq struct{ verbs.ConnRequest }

func (r failingReq) Accept(cfg verbs.QPConfig, pd []byte, prepare func(verbs.QP) error) (verbs.QP, error) {
	var fq verbs.QP
	if _, err := r.ConnRequest.Accept(cfg, pd, func(q verbs.QP) error {
		fq = failingQP{q}
		return prepare(fq)
	}); err != nil {
		return nil, err
	}
	return fq, nil
}

type failingQP struct{ verbs.QP }

func (q failingQP) PD() verbs.PD { return failingPD{q.QP.PD()} }

type failingPD struct{ verbs.PD }

var errInjected = errors.New("injected registration failure")

func (failingPD) RegisterWith([]byte, verbs.Access, verbs.RegisterOptions) (verbs.MR, error) {
	return nil, errInjected
}

// TestMapFailureUndoes: a read-write Map that fails after its durable mark
// leaves no mark behind (or the block would read as unclean after a
// restart for nothing), and no map entry.
func TestMapFailureUndoes(t *testing.T) {
	e := newEnv(t, envOpts{wrap: func(l verbs.Listener) verbs.Listener { return failingFrames{l} }})
	c := e.dial()
	wantErr(t, "alloc", c.Alloc(e.ctx, block), nil)
	if _, err := c.Map(e.ctx, block, protocol.MapReadWrite); !errors.Is(err, protocol.ErrInternal) {
		t.Fatalf("map with failing registration: %v, want an internal error", err)
	}
	b, err := e.store.Lookup(block)
	if err != nil {
		t.Fatal(err)
	}
	if b.MarkedRW {
		t.Fatal("a failed map left its durable read-write mark")
	}
	if st, err := c.Status(e.ctx); err != nil || st.Mapped != 0 {
		t.Fatalf("status after a failed map: %+v %v", st, err)
	}
}
