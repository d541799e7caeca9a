package brick_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/persist"
	"github.com/brick-storage/brick/pmem"
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
			region, err := pmem.NewPowerFail((frames+1)*pmem.FrameSize, pmem.PowerFailConfig{DDIO: true})
			if err != nil {
				t.Fatal(err)
			}
			b := startBrick(t, ctx, dir, region, persist.DefaultPolicy)
			c, err := client.Dial(ctx, b.addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
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
			b.stop()

			// Restart on what the crash left and give every frame an owner.
			b = startBrick(t, ctx, dir, crashed, persist.DefaultPolicy)
			c, err = client.Dial(ctx, b.addr, client.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for n := uint64(2); b.store.Stats().FreeFrames > 0; n++ {
				if _, err := b.store.Lookup(n * block); err != nil {
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
			b.stop()
			defer again.Close()
			for i := range uint64(frames) {
				if bytes.Contains(again.Frame(i), []byte("secret!!")) {
					t.Errorf("after a second crash, frame %d of a new owner holds the previous owner's bytes", i)
				}
			}
		})
	}
}

// BenchmarkDurableVerbs runs brickctl bench's control cycle (alloc, map
// read-write, unmap, free) from 64 sessions against an in-process brick on
// a file region, over the software RNIC, and reports durable verbs per
// second (alloc, first map read-write and free: three a cycle). Compare
// with alloc2m's BenchmarkPebbleSyncedCommits.
//
//	go test -tags pebblegozstd -run '^$' -bench DurableVerbs ./brick/
func BenchmarkDurableVerbs(b *testing.B) {
	const sessions = 64
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := b.TempDir()
	region, err := pmem.OpenFile(filepath.Join(dir, "pmem.img"), pmem.FileOptions{Size: (2*sessions + 1) * pmem.FrameSize})
	if err != nil {
		b.Fatal(err)
	}
	br := startBrick(b, ctx, dir, region, persist.DefaultPolicy)
	defer br.stop()
	clients := make([]*client.Client, sessions)
	for i := range clients {
		if clients[i], err = client.Dial(ctx, br.addr, client.Options{}); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	var cycles atomic.Int64
	work := make(chan struct{}, sessions)
	var wg sync.WaitGroup
	b.ResetTimer()
	for i, c := range clients {
		wg.Go(func() {
			for n := uint64(0); ; n++ {
				if _, ok := <-work; !ok {
					return
				}
				if err := controlCycle(ctx, c, (n*sessions+uint64(i))*block); err != nil {
					b.Error(err)
					return
				}
				cycles.Add(1)
			}
		})
	}
	for b.Loop() {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(3*cycles.Load())/b.Elapsed().Seconds(), "durable-verbs/s")
}

func controlCycle(ctx context.Context, c *client.Client, id uint64) error {
	if err := c.Alloc(ctx, id); err != nil {
		return fmt.Errorf("alloc: %w", err)
	}
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		return fmt.Errorf("map: %w", err)
	}
	if err := h.Unmap(ctx); err != nil {
		return fmt.Errorf("unmap: %w", err)
	}
	if err := c.Free(ctx, id); err != nil {
		return fmt.Errorf("free: %w", err)
	}
	return nil
}
