package alloc2m

import (
	"runtime"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// The scale goals of `make bench` (issue 12) at the store: a brick of a
// million allocated blocks opens (brickd's readiness) and walks (the heart
// of list) quickly, in little memory per block, and so does the worst case
// for list, every other block allocated. The stores are written with one
// unsynced batch, which is how fast a benchmark can make them; the
// through-brickd figures come from make bench.

const million = 1_000_000

// bigStore makes a store of n blocks with IDs 0, every, 2·every, … (no frame
// placed, as Alloc leaves them) and returns its directory, closed.
func bigStore(b *testing.B, n, every uint64) string {
	b.Helper()
	dir := b.TempDir()
	s, err := Open(dir, Options{UUID: testUUID, Frames: n * every, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	batch := s.db.NewBatch()
	for i := uint64(0); i < n; i++ {
		if err := batch.Set(blockKey(id(i*every)), encodeRecord(Location{}, 0), nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Commit(pebble.Sync); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

func openBig(b *testing.B, dir string, frames uint64) *Store {
	s, err := Open(dir, Options{UUID: testUUID, Frames: frames, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkOpenMillion: opening a store of a million blocks (the store's
// part of brickd's readiness), and the heap the open store holds per block
// (heap-B/block; the goal is under 100 B of RSS per block).
func BenchmarkOpenMillion(b *testing.B) {
	dir := bigStore(b, million, 1)
	var perBlock float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := openBig(b, dir, million)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perBlock = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / million
		if st := s.Stats(); st.Blocks != million {
			b.Fatalf("%d blocks, want %d", st.Blocks, million)
		}
		s.Close()
	}
	b.ReportMetric(perBlock, "heap-B/block")
}

func benchWalk(b *testing.B, n, every uint64) {
	s := openBig(b, bigStore(b, n, every), n*every)
	defer s.Close()
	for b.Loop() {
		var seen uint64
		s.Walk(0, ^uint64(0), func(Block) bool { seen++; return true })
		if seen != n {
			b.Fatalf("walked %d blocks, want %d", seen, n)
		}
	}
}

// BenchmarkListMillion: walking every block of a million-block store, one
// extent (the store's part of `brickctl list`).
func BenchmarkListMillion(b *testing.B) { benchWalk(b, million, 1) }

// BenchmarkListHalfMillionExtents: walking 500,000 blocks that are every
// other ID, so 500,000 extents: list's worst case.
func BenchmarkListHalfMillionExtents(b *testing.B) { benchWalk(b, million/2, 2) }
