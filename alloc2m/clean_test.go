package alloc2m

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestPlaceRW: the placement and the read-write mark are one durable
// record, so a crash right after PlaceRW reopens the block in its frame
// and unclean; a plain Place leaves no mark.
func TestPlaceRW(t *testing.T) {
	tests := []struct {
		name string
		rw   bool
		want Block
	}{
		{"place", false, inFrame(id(1), 0)},
		{"place-rw", true, Block{ID: id(1), Loc: FrameLoc(0), Frame: 0, MarkedRW: true, Unclean: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			s := openMem(t, mem, 4)
			if err := s.Alloc(id(1)); err != nil {
				t.Fatal(err)
			}
			place := s.Place
			if tt.rw {
				place = s.PlaceRW
			}
			b, err := place(id(1), Location{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if b.MarkedRW != tt.rw {
				t.Fatalf("placed block %+v, want MarkedRW %v", b, tt.rw)
			}
			crashed := mem.CrashClone(vfs.CrashCloneCfg{}) // what the synced WAL holds
			s.Close()
			s = openMem(t, crashed, 4)
			defer s.Close()
			if got, err := s.Lookup(id(1)); err != nil || got != tt.want {
				t.Fatalf("after a crash: %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// walSyncs counts syncs of Pebble's WAL.
type walSyncs struct{ n atomic.Int64 }

func (w *walSyncs) String() string { return "wal-syncs" }

func (w *walSyncs) MaybeError(op errorfs.Op) error {
	if strings.HasSuffix(op.Path, ".log") {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
			w.n.Add(1)
		}
	}
	return nil
}

// TestPlaceRWOneSync: a first read-write map costs one WAL sync with
// PlaceRW, where Place then MarkRW cost two.
func TestPlaceRWOneSync(t *testing.T) {
	tests := []struct {
		name string
		do   func(s *Store) error
		want int64
	}{
		{"place-rw", func(s *Store) error { _, err := s.PlaceRW(id(1), Location{}, nil); return err }, 1},
		{"place-then-mark", func(s *Store) error {
			if _, err := s.Place(id(1), Location{}, nil); err != nil {
				return err
			}
			return s.MarkRW(id(1))
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncs := &walSyncs{}
			s := openMem(t, errorfs.Wrap(vfs.NewMem(), syncs), 4)
			defer s.Close()
			if err := s.Alloc(id(1)); err != nil {
				t.Fatal(err)
			}
			before := syncs.n.Load()
			if err := tt.do(s); err != nil {
				t.Fatal(err)
			}
			if n := syncs.n.Load() - before; n != tt.want {
				t.Fatalf("%d WAL syncs, want %d", n, tt.want)
			}
		})
	}
}

// TestCleanPool walks frames through the pool: a zeroer reserves dirty
// frames up to its target, puts them back clean, Place-by-reserve prefers
// dirty frames, TakeClean hands out clean ones, and Stats counts pooled and
// zeroing frames as free.
func TestCleanPool(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 4)
	defer s.Close()
	type step struct {
		do        func() (uint64, bool)
		wantF     uint64
		wantOK    bool
		wantFree  uint64
		wantClean uint64
	}
	steps := []step{
		{func() (uint64, bool) { return s.ReserveDirty(2) }, 0, true, 4, 0},
		{func() (uint64, bool) { return s.ReserveDirty(2) }, 1, true, 4, 0},
		{func() (uint64, bool) { return s.ReserveDirty(2) }, 0, false, 4, 0}, // at target
		{func() (uint64, bool) { s.PutClean(0); return 0, true }, 0, true, 4, 1},
		{func() (uint64, bool) { s.DropDirty(1); return 1, true }, 1, true, 4, 1},
		{func() (uint64, bool) { f, err := s.ReserveFrame(); return f, err == nil }, 1, true, 3, 1}, // dirty first
		{func() (uint64, bool) { return s.TakeClean() }, 0, true, 2, 0},
		{func() (uint64, bool) { return s.TakeClean() }, 0, false, 2, 0},
	}
	for i, st := range steps {
		f, ok := st.do()
		if ok != st.wantOK || (ok && f != st.wantF) {
			t.Fatalf("step %d: frame %d, %v; want %d, %v", i, f, ok, st.wantF, st.wantOK)
		}
		if got := s.Stats(); got.FreeFrames != st.wantFree || got.CleanFrames != st.wantClean {
			t.Fatalf("step %d: %d free, %d clean; want %d, %d", i, got.FreeFrames, got.CleanFrames, st.wantFree, st.wantClean)
		}
	}
}

// TestReserveUsesPool: when every other frame is taken, a reserve gets a
// pooled frame, or waits for a zeroing in flight instead of failing.
func TestReserveUsesPool(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 2)
	defer s.Close()
	a, _ := s.ReserveDirty(2)
	b, _ := s.ReserveDirty(2)
	s.PutClean(a)
	if f, err := s.ReserveFrame(); err != nil || f != a {
		t.Fatalf("ReserveFrame with only a pooled frame: %d, %v; want %d", f, err, a)
	}
	got := make(chan uint64)
	go func() {
		f, err := s.ReserveFrame() // waits for b's zeroing
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	s.PutClean(b)
	if f := <-got; f != b {
		t.Fatalf("ReserveFrame during a zeroing got %d, want %d", f, b)
	}
	if _, err := s.ReserveFrame(); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("ReserveFrame with every frame taken: %v, want ErrNoSpace", err)
	}
}

// TestCleanPoolForgottenAtOpen: the pool is memory only; a reopened store
// has every unnamed frame free and none clean, so nothing not zeroed since
// the restart is handed out as clean.
func TestCleanPoolForgottenAtOpen(t *testing.T) {
	mem := vfs.NewMem()
	s := openMem(t, mem, 4)
	f, _ := s.ReserveDirty(4)
	s.PutClean(f)
	s.Close()
	s = openMem(t, mem, 4)
	defer s.Close()
	if st := s.Stats(); st.CleanFrames != 0 || st.FreeFrames != 4 {
		t.Fatalf("after reopen: %+v", st)
	}
	if f, ok := s.TakeClean(); ok {
		t.Fatalf("TakeClean after reopen gave frame %d", f)
	}
}

// BenchmarkPebbleSyncedCommits is the ceiling the store's verbs are measured
// against: raw synced Pebble commits of one block record each from 64
// goroutines, with the options Open uses (on disk, in a temporary
// directory).
func BenchmarkPebbleSyncedCommits(b *testing.B) {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: newPebbleLogger(quiet)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var next atomic.Uint64
	b.SetParallelism(64 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		v := encodeRecord(FrameLoc(1), flagMarkedRW)
		for pb.Next() {
			if err := db.Set(blockKey(id(next.Add(1))), v, pebble.Sync); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDurableVerbs runs the control cycle's durable verbs against the
// store from 64 goroutines: Alloc, PlaceRW (a first read-write map), ClearRW
// (unmap, lazy) and Free, reporting durable verbs per second. Compare with
// BenchmarkPebbleSyncedCommits: each cycle is three synced commits.
func BenchmarkDurableVerbs(b *testing.B) {
	const workers = 64
	s := benchStore(b)
	defer s.Close()
	var next atomic.Uint64
	var wg sync.WaitGroup
	var cycles atomic.Int64
	work := make(chan struct{}, workers)
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for range work {
				n := id(next.Add(1))
				if err := cycle(s, n); err != nil {
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

func cycle(s *Store, n uint64) error {
	if err := s.Alloc(n); err != nil {
		return err
	}
	if _, err := s.PlaceRW(n, Location{}, nil); err != nil {
		return fmt.Errorf("place %#x: %w", n, err)
	}
	if err := s.ClearRW(n); err != nil {
		return err
	}
	return s.Free(n)
}
