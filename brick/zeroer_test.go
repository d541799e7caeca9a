package brick_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/pmem/powerfail"
	"github.com/brick-storage/brick/protocol"
)

// TestPowerFailCleanFrames: frames zeroed ahead of time never carry a
// previous owner's bytes to the next one, whatever the crash point. The
// first owner persists a secret, overwrites it with zeros it never
// persists (they sit in the simulated CPU cache), unmaps and frees; the
// brick crashes right after the free, after the next Alloc (which starts
// the zeroer), or after the next first Map (which takes a pooled frame).
// After the restart every frame is given an owner, and no frame holds the
// secret, neither live nor after a second crash.
func TestPowerFailCleanFrames(t *testing.T) {
	const frames = 3
	secret := bytes.Repeat([]byte("secret!!"), block/8)
	for _, crashAt := range []string{"free", "alloc", "map"} {
		t.Run("after-"+crashAt, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			region, b, c := startDDIOBrick(t, ctx, dir, frames+1)
			h := leaveSecret(t, ctx, c, secret)
			steps := []struct {
				name string
				do   func() error
			}{
				{"unmap", func() error { return h.Unmap(ctx) }},
				{"free", func() error { return c.Free(ctx, block) }},
				{"alloc", func() error { return c.Alloc(ctx, 2*block) }},
				{"map", func() error { _, err := c.Map(ctx, 2*block, protocol.MapReadWrite); return err }},
			}
			for _, st := range steps {
				if err := st.do(); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				if st.name == crashAt {
					break
				}
			}
			crashed := region.Crash()
			c.Close()
			b.Stop()

			// Restart on what the crash left and give every frame an owner.
			b = startBrick(t, dir, crashed, persist.DefaultPolicy)
			c, err := client.Dial(ctx, b.Addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for n := uint64(2); b.Store.Stats().FreeFrames > 0; n++ {
				if _, err := b.Store.Lookup(n * block); err != nil {
					if err := c.Alloc(ctx, n*block); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := c.Map(ctx, n*block, protocol.MapReadOnly); err != nil {
					t.Fatalf("map block %d: %v", n, err)
				}
			}
			for i := range uint64(frames) {
				if bytes.Contains(crashed.Frame(i), []byte("secret!!")) {
					t.Errorf("frame %d of a new owner holds the previous owner's bytes", i)
				}
			}
			again := crashed.Crash()
			c.Close()
			b.Stop()
			defer again.Close()
			for i := range uint64(frames) {
				if bytes.Contains(again.Frame(i), []byte("secret!!")) {
					t.Errorf("after a second crash, frame %d of a new owner holds the previous owner's bytes", i)
				}
			}
		})
	}
}

// leaveSecret has the first owner of block persist secret, then overwrite
// it with zeros it never persists (with DDIO on they sit in the simulated
// CPU cache): the frame reads as zero while its durable copy holds the
// secret. The block stays mapped through the returned handle.
func leaveSecret(t *testing.T, ctx context.Context, c *client.Client, secret []byte) *client.Handle {
	t.Helper()
	if err := c.Alloc(ctx, block); err != nil {
		t.Fatal(err)
	}
	h, err := c.Map(ctx, block, protocol.MapReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(secret, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.Persist(ctx, 0, block); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(make([]byte, block), 0); err != nil {
		t.Fatal(err)
	}
	return h
}

// startDDIOBrick starts a brick in dir on a new power-fail region of n
// frames with DDIO on, and dials it.
func startDDIOBrick(t *testing.T, ctx context.Context, dir string, n int64) (*powerfail.Region, *bricktest.Brick, *client.Client) {
	t.Helper()
	region, err := powerfail.New(n*pmem.FrameSize, powerfail.Config{DDIO: true})
	if err != nil {
		t.Fatal(err)
	}
	b := startBrick(t, dir, region, persist.DefaultPolicy)
	c, err := client.Dial(ctx, b.Addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return region, b, c
}
