package brick_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/internal/bricktest"
	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/protocol"
)

// The data-path and control-path goals of `make bench` (issue 12), one Go
// benchmark each so that benchstat shows a regression: a file-backed brick
// and its clients in one process over the software RNIC on loopback. make
// bench measures the same through a real brickd against baselines; these
// are for comparing commits.

// goalBrick starts a file-backed brick of frames data frames.
func goalBrick(b *testing.B, frames int) (context.Context, *bricktest.Brick) {
	b.Helper()
	dir := b.TempDir()
	region, err := pmem.OpenFile(filepath.Join(dir, "pmem.img"), pmem.FileOptions{Size: int64(frames+1) * pmem.FrameSize})
	if err != nil {
		b.Fatal(err)
	}
	br := startBrick(b, dir, region, protocol.DDIOPolicyVerify)
	return br.Ctx, br
}

func goalClient(b *testing.B, br *bricktest.Brick) *client.Client {
	b.Helper()
	return br.Dial(client.Options{PersistFeatures: protocol.FeatureGPSPM})
}

// benchData runs qd workers on one session and one block, each with its own
// registered buffer of size bytes, until b.N operations are done.
func benchData(b *testing.B, size, qd int, op func(ctx context.Context, h *client.Handle, buf *client.Buffer, off int64) error) {
	ctx, br := goalBrick(b, 2)
	c := goalClient(b, br)
	if err := c.Alloc(ctx, 0); err != nil {
		b.Fatal(err)
	}
	h, err := c.Map(ctx, 0, protocol.MapReadWrite)
	if err != nil {
		b.Fatal(err)
	}
	bufs := make([]*client.Buffer, qd)
	for i := range bufs {
		if bufs[i], err = c.NewBuffer(size); err != nil {
			b.Fatal(err)
		}
		defer bufs[i].Free()
	}
	b.SetBytes(int64(size))
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range qd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				if err := op(ctx, h, bufs[w], (i*int64(size))%block); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func write(ctx context.Context, h *client.Handle, buf *client.Buffer, off int64) error {
	return h.WriteFrom(ctx, buf, 0, len(buf.Bytes()), off)
}

func read(ctx context.Context, h *client.Handle, buf *client.Buffer, off int64) error {
	return h.ReadInto(ctx, buf, 0, len(buf.Bytes()), off)
}

func writePersist(ctx context.Context, h *client.Handle, buf *client.Buffer, off int64) error {
	if err := write(ctx, h, buf, off); err != nil {
		return err
	}
	return h.Persist(ctx, off, int64(len(buf.Bytes())))
}

func BenchmarkWrite4KQD1(b *testing.B)   { benchData(b, 4<<10, 1, write) }
func BenchmarkRead4KQD1(b *testing.B)    { benchData(b, 4<<10, 1, read) }
func BenchmarkPersist4KQD1(b *testing.B) { benchData(b, 4<<10, 1, writePersist) }
func BenchmarkWrite2MiBQD4(b *testing.B) { benchData(b, 2<<20, 4, write) }
func BenchmarkRead2MiBQD4(b *testing.B)  { benchData(b, 2<<20, 4, read) }

// BenchmarkDurableVerbs64: control cycles (alloc, map read-write, free
// that unmaps) from 64 sessions, each on its own block ID; one op is one
// cycle, and durable-verbs/s counts its three verbs, each of which waits
// for a synced commit.
func BenchmarkDurableVerbs64(b *testing.B) { benchDurable(b, controlCycle) }

// BenchmarkDurableVerbsAllocMap64: the same cycles with the alloc and the
// map in one request and one commit, as brickctl bench --ops alloc-map.
func BenchmarkDurableVerbsAllocMap64(b *testing.B) { benchDurable(b, allocMapCycle) }

func benchDurable(b *testing.B, cycle func(ctx context.Context, c *client.Client, id uint64) error) {
	const sessions = 64
	ctx, br := goalBrick(b, sessions)
	clients := make([]*client.Client, sessions)
	for i := range clients {
		clients[i] = goalClient(b, br)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	t0 := time.Now()
	for w, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uint64(w) * block
			for next.Add(1) <= int64(b.N) {
				if err := cycle(ctx, c, id); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(3*float64(b.N)/time.Since(t0).Seconds(), "durable-verbs/s")
}

func controlCycle(ctx context.Context, c *client.Client, id uint64) error {
	if err := c.Alloc(ctx, id); err != nil {
		return err
	}
	h, err := c.Map(ctx, id, protocol.MapReadWrite)
	if err != nil {
		return err
	}
	return h.Free(ctx) // unmaps in the same round trip, as brickctl bench's cycle
}

func allocMapCycle(ctx context.Context, c *client.Client, id uint64) error {
	h, err := c.AllocMap(ctx, id, protocol.MapReadWrite)
	if err != nil {
		return err
	}
	return h.Free(ctx)
}
