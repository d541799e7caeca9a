package alloc2m

import (
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// The scale goals (issue 12): a store of a million blocks opens in well
// under brickd's 2 s start-up budget, and holds them in well under 100 B
// of memory a block; every other block allocated (500,000 runs) is the
// worst case for a walk that coalesces runs.
const (
	scaleBlocks    = 1_000_000
	scaleAlternate = 500_000
)

// generateStore writes a store in dir holding n unplaced blocks with IDs
// stride blocks apart, the way a brick that allocated them would hold
// them, in unsynced batches (a benchmark fixture, not a crash-safe tool).
func generateStore(tb testing.TB, dir string, n, stride uint64) {
	tb.Helper()
	s, err := Open(dir, Options{UUID: testUUID, Frames: n * stride, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	const perBatch = 10_000
	for i := uint64(0); i < n; i += perBatch {
		bt := s.db.NewBatch()
		for j := i; j < min(n, i+perBatch); j++ {
			_ = bt.Set(blockKey(j*stride*BlockSize), encodeRecord(Location{}, 0), nil)
		}
		if err := bt.Commit(pebble.NoSync); err != nil {
			tb.Fatal(err)
		}
		bt.Close()
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
	// The first open after the writes replays and flushes the log; the
	// benchmarks measure the steady state of a brick restarted again.
	s, err = Open(dir, Options{UUID: testUUID, Frames: n * stride, Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	if got := s.Stats().Blocks; got != n {
		tb.Fatalf("generated store holds %d blocks, want %d", got, n)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkOpenMillion opens a store of a million blocks: the time is
// brickd's metadata share of start-up, and B/block the heap the open store
// holds for each block.
func BenchmarkOpenMillion(b *testing.B) {
	d := b.TempDir()
	generateStore(b, d, scaleBlocks, 1)
	var perBlock float64
	b.ResetTimer()
	for b.Loop() {
		before := heapInUse()
		s, err := Open(d, Options{UUID: testUUID, Frames: scaleBlocks, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		perBlock = float64(heapInUse()-min(before, heapInUse())) / scaleBlocks
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(perBlock, "B/block")
}

// BenchmarkWalkMillion walks every block of a million-block store, and of
// one with every other block allocated.
func BenchmarkWalkMillion(b *testing.B) {
	for _, c := range []struct {
		name      string
		n, stride uint64
	}{{"contiguous", scaleBlocks, 1}, {"alternate", scaleAlternate, 2}} {
		b.Run(c.name, func(b *testing.B) {
			d := b.TempDir()
			generateStore(b, d, c.n, c.stride)
			s, err := Open(d, Options{UUID: testUUID, Frames: c.n * c.stride, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			for b.Loop() {
				var n uint64
				s.Walk(0, MaxID, func(Block) bool { n++; return true })
				if n != c.n {
					b.Fatalf("walked %d blocks, want %d", n, c.n)
				}
			}
		})
	}
}
