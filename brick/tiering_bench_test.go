package brick_test

import (
	"os"
	"testing"
	"time"

	"github.com/brick-storage/brick/client"
	"github.com/brick-storage/brick/protocol"
	"github.com/brick-storage/brick/tier"
)

// tierBench is a file-backed brick with a tier (env) and a client, for
// the tiering benchmarks (make bench-tier; docs/benchmarks.md).
type tierBench struct {
	*env
	c *client.Client
}

func newTierBench(b *testing.B, frames, slots uint64) *tierBench {
	b.Helper()
	// Watermarks at zero free frames: no background demotion.
	e := newEnv(b, envOpts{frames: frames, file: true, tierSlots: slots, lifetime: time.Hour, quietStore: true})
	return &tierBench{env: e, c: e.dial()}
}

// written allocates block id and fills it (so moves copy real bytes).
func (tb *tierBench) written(b *testing.B, id uint64) {
	if err := tb.c.Alloc(tb.ctx, id); err != nil {
		b.Fatal(err)
	}
	h, err := tb.c.Map(tb.ctx, id, protocol.MapReadWrite)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, block)
	for i := range buf {
		buf[i] = byte(i*7 + int(id>>21))
	}
	if _, err := h.WriteAt(buf, 0); err != nil {
		b.Fatal(err)
	}
	if err := h.Persist(tb.ctx, 0, block); err != nil {
		b.Fatal(err)
	}
	if err := h.Unmap(tb.ctx); err != nil {
		b.Fatal(err)
	}
}

func (tb *tierBench) mapUnmap(b *testing.B, id uint64) {
	h, err := tb.c.Map(tb.ctx, id, protocol.MapReadOnly)
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Unmap(tb.ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTierDemote: one block from its frame to a slot (write, fsync,
// Pebble commit). The promotion back is not timed.
func BenchmarkTierDemote(b *testing.B) { newTierBench(b, 4, 4).demoteAndPromote(b, demoteHalf) }

// BenchmarkTierMapTiered: Map (and Unmap) of a tiered block, which
// promotes it (read, msync, Pebble commit) before the handle is returned.
// Compare with BenchmarkTierMapResident; the demotion is not timed.
func BenchmarkTierMapTiered(b *testing.B) { newTierBench(b, 4, 4).demoteAndPromote(b, promoteHalf) }

// The halves of a demote-and-promote cycle of one block.
const (
	demoteHalf  = iota // Demote
	promoteHalf        // Map and Unmap, which promotes
)

// demoteAndPromote writes block 0, then b.N times demotes it and maps it
// back, timing only the half timed.
func (tb *tierBench) demoteAndPromote(b *testing.B, timed int) {
	tb.written(b, 0)
	halves := [2]func(){
		demoteHalf: func() {
			if err := tb.srv.Demote(0); err != nil {
				b.Fatal(err)
			}
		},
		promoteHalf: func() { tb.mapUnmap(b, 0) },
	}
	b.SetBytes(block)
	b.ResetTimer()
	for range b.N {
		for i, half := range halves {
			if i != timed {
				b.StopTimer()
			}
			half()
			if i != timed {
				b.StartTimer()
			}
		}
	}
}

// BenchmarkTierMapResident: Map and Unmap of a resident block, the
// baseline of BenchmarkTierMapTiered.
func BenchmarkTierMapResident(b *testing.B) {
	tb := newTierBench(b, 4, 4)
	tb.written(b, 0)
	b.ResetTimer()
	for range b.N {
		tb.mapUnmap(b, 0)
	}
}

// BenchmarkPlainCopy: the baseline of the moves — the same 2 MiB copied
// between the same two files with plain file I/O and the same durability
// (pwrite + fsync to the tier file; pread + msync into the pmem frame),
// with no metadata commit and no locking.
func BenchmarkPlainCopy(b *testing.B) {
	tb := newTierBench(b, 4, 4)
	tb.written(b, 0)
	blk, _ := tb.store.Lookup(0)
	frame := tb.region.Frame(blk.Frame)
	f, err := os.OpenFile(tb.tier.Path(), os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	slotOff := int64(tier.HeaderSize + 3*tier.SlotSize) // a slot no block uses
	b.Run("to-tier", func(b *testing.B) {
		b.SetBytes(block)
		for range b.N {
			if _, err := f.WriteAt(frame, slotOff); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
	spare := tb.region.Frame(3) // a frame no block uses
	b.Run("to-pmem", func(b *testing.B) {
		b.SetBytes(block)
		for range b.N {
			if _, err := f.ReadAt(spare, slotOff); err != nil {
				b.Fatal(err)
			}
			if err := tb.region.Flush(spare); err != nil {
				b.Fatal(err)
			}
		}
	})
}
