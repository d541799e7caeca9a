package brick_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

const block = alloc2m.BlockSize

// env is an in-process brick on loopback.
type env struct {
	t      *testing.T
	srv    *brick.Server
	region pmem.Region
	store  *alloc2m.Store
	addr   string
	ctx    context.Context
}

type envOpts struct {
	frames      uint64 // data frames (default 16)
	file        bool   // file backend instead of anonymous memory
	maxSessions int
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	if o.frames == 0 {
		o.frames = 16
	}
	size := int64(o.frames+1) * pmem.FrameSize
	dir := t.TempDir()
	var region pmem.Region
	var err error
	if o.file {
		region, err = pmem.OpenFile(filepath.Join(dir, "pmem.img"), pmem.FileOptions{Size: size})
	} else {
		region, err = pmem.NewAnonymous(size)
	}
	if err != nil {
		t.Fatal(err)
	}
	store, err := alloc2m.Open(filepath.Join(dir, "meta"), alloc2m.Options{UUID: region.UUID(), Frames: region.Frames()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := brick.New(brick.Config{Region: region, Store: store, MaxSessions: o.maxSessions})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	l, err := soft.New().Listen(ctx, "127.0.0.1:0", verbs.ListenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
		cancel()
		store.Close()
		region.Close()
	})
	return &env{t: t, srv: srv, region: region, store: store, addr: "tcp://" + l.Addr(), ctx: ctx}
}

// dial opens a client session closed at the end of the test.
func (e *env) dial() *client.Client {
	e.t.Helper()
	c, err := client.Dial(e.ctx, e.addr, client.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// waitSessions waits until the brick has noticed ended sessions.
func (e *env) waitSessions(n int) {
	e.t.Helper()
	for e.srv.Sessions() != n {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("sessions = %d, want %d", e.srv.Sessions(), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}
