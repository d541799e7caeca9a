package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/brick"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
)

// startBrick runs an in-process brick (anonymous memory, 8 frames) on
// loopback and returns its address and a context for the test.
func startBrick(t *testing.T) (string, context.Context) {
	t.Helper()
	region, err := pmem.NewAnonymous(9 * pmem.FrameSize)
	if err != nil {
		t.Fatal(err)
	}
	store, err := alloc2m.Open(filepath.Join(t.TempDir(), "meta"), alloc2m.Options{UUID: region.UUID(), Frames: region.Frames()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := brick.New(brick.Config{Region: region, Store: store})
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
	return "tcp://" + l.Addr(), ctx
}
