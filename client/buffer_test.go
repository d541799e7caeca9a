package client_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"sync"
	"testing"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
)

// TestBuffersConcurrent: many zero-copy operations in flight on one
// session — more than its send queue holds, so some wait for room — each
// landing and reading back its own bytes.
func TestBuffersConcurrent(t *testing.T) {
	addr, ctx := startBrick(t)
	c, err := client.Dial(ctx, addr, client.Options{RecvDepth: 4}) // room for few data ops
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Alloc(ctx, client.BlockSize); err != nil {
		t.Fatal(err)
	}
	h, err := c.Map(ctx, client.BlockSize, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	const workers, chunk = 32, 64 << 10
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			b, err := c.NewBuffer(2 * chunk)
			if err != nil {
				errc <- err
				return
			}
			defer b.Free()
			src, dst := b.Bytes()[:chunk], b.Bytes()[chunk:]
			rand.Read(src)
			off := int64(w * chunk)
			for range 5 {
				if err := h.WriteFrom(ctx, b, 0, chunk, off); err != nil {
					errc <- err
					return
				}
				if err := h.ReadInto(ctx, b, chunk, chunk, off); err != nil {
					errc <- err
					return
				}
				if !bytes.Equal(src, dst) {
					errc <- errors.New("read back differs")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

// TestBufferChecks: ranges, access, another session's buffer, and a
// buffer that outlives its session.
func TestBufferChecks(t *testing.T) {
	addr, ctx := startBrick(t)
	a, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.Dial(ctx, addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Alloc(ctx, 0); err != nil {
		t.Fatal(err)
	}
	ro, err := a.Map(ctx, 0, protocol.MapReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := a.NewBuffer(4096)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := b.NewBuffer(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Free()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"write through read-only", ro.WriteFrom(ctx, buf, 0, 8, 0), client.ErrAccess},
		{"past the buffer", ro.ReadInto(ctx, buf, 4090, 8, 0), client.ErrRange},
		{"past the block", ro.ReadInto(ctx, buf, 0, 8, client.BlockSize-4), client.ErrRange},
		{"another session's buffer", ro.ReadInto(ctx, theirs, 0, 8, 0), client.ErrInvalid},
		{"a good read", ro.ReadInto(ctx, buf, 0, 4096, 0), nil},
	}
	for _, tc := range cases {
		if tc.want == nil && tc.err != nil || tc.want != nil && !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	a.Close()
	if err := ro.ReadInto(ctx, buf, 0, 8, 0); !errors.Is(err, client.ErrClosed) {
		t.Errorf("read into a buffer of a closed session: %v, want ErrClosed", err)
	}
	if err := buf.Free(); err != nil {
		t.Errorf("free after close: %v", err)
	}
}
