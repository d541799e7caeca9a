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
			wantAfterCrash(t, mem, s, tt.want)
		})
	}
}

// wantAfterCrash crashes s, whose file system is mem, keeping what the
// synced WAL holds, and checks that the reopened store has block want.
func wantAfterCrash(t *testing.T, mem *vfs.MemFS, s *Store, want Block) {
	t.Helper()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	s = openMem(t, crashed, 4)
	defer s.Close()
	if got, err := s.Lookup(want.ID); err != nil || got != want {
		t.Fatalf("after a crash: %+v, %v; want %+v", got, err, want)
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

// TestCleanPool walks frames through the pool: a zeroer reserves the
// lowest dirty frames up to its target and puts them back clean, and past
// the target trades the highest pooled frame for a lower dirty one; a first
// placement takes the lowest pooled frame, a move the lowest dirty one;
// Stats counts pooled and zeroing frames as free.
func TestCleanPool(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 4)
	defer s.Close()
	first := func() (uint64, bool, error) { return s.ReserveFrameClean() }
	move := func() (uint64, bool, error) { f, err := s.ReserveFrame(); return f, false, err }
	dirty := func(target int) func() (uint64, bool, error) {
		return func() (uint64, bool, error) {
			f, ok := s.ReserveDirty(target)
			if !ok {
				return 0, false, ErrNoSpace
			}
			return f, false, nil
		}
	}
	put := func(f uint64) func() (uint64, bool, error) {
		return func() (uint64, bool, error) { s.PutClean(f); return f, true, nil }
	}
	tests := []struct {
		name      string
		do        func() (uint64, bool, error)
		wantF     uint64
		wantClean bool
		wantErr   error
		free, cln uint64 // Stats after
	}{
		{"zero 0", dirty(2), 0, false, nil, 4, 0},
		{"zero 1", dirty(2), 1, false, nil, 4, 0},
		{"at target", dirty(2), 0, false, ErrNoSpace, 4, 0},
		{"0 clean", put(0), 0, true, nil, 4, 1},
		{"1 clean", put(1), 1, true, nil, 4, 2},
		{"a move spares the pool", move, 2, false, nil, 3, 2},
		{"a first map takes the lowest pooled", first, 0, true, nil, 2, 1},
		{"freed", func() (uint64, bool, error) { s.Release(FrameLoc(0)); return 0, false, nil }, 0, false, nil, 3, 1},
		{"0 traded for 1", dirty(1), 0, false, nil, 3, 0},
		{"0 clean again", put(0), 0, true, nil, 3, 1},
		{"pool full, nothing lower", dirty(1), 0, false, ErrNoSpace, 3, 1},
		{"pooled 0", first, 0, true, nil, 2, 0},
		{"zero 1 again", dirty(4), 1, false, nil, 2, 0},
		{"zeroing failed", func() (uint64, bool, error) { s.DropDirty(1); return 1, false, nil }, 1, false, nil, 2, 0},
		{"empty pool: dirty 1", first, 1, false, nil, 1, 0},
		{"dirty 3", first, 3, false, nil, 0, 0},
		{"none left", first, 0, false, ErrNoSpace, 0, 0},
	}
	for _, tt := range tests {
		f, clean, err := tt.do()
		if !errors.Is(err, tt.wantErr) || (err == nil && (f != tt.wantF || clean != tt.wantClean)) {
			t.Fatalf("%s: frame %d clean %v, %v; want %d clean %v, %v", tt.name, f, clean, err, tt.wantF, tt.wantClean, tt.wantErr)
		}
		if got := s.Stats(); got.FreeFrames != tt.free || got.CleanFrames != tt.cln {
			t.Fatalf("%s: %d free, %d clean; want %d, %d", tt.name, got.FreeFrames, got.CleanFrames, tt.free, tt.cln)
		}
	}
}

// TestReserveWaitsForZeroing: a reserve that finds no frame but one being
// zeroed waits for it instead of failing with ErrNoSpace.
func TestReserveWaitsForZeroing(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 1)
	defer s.Close()
	a, _ := s.ReserveDirty(1) // the only frame
	got := make(chan uint64)
	go func() {
		f, clean, err := s.ReserveFrameClean()
		if err != nil || !clean {
			t.Errorf("ReserveFrameClean: clean %v, %v", clean, err)
		}
		got <- f
	}()
	s.PutClean(a)
	if f := <-got; f != a {
		t.Fatalf("reserve during the zeroing of frame %d got %d", a, f)
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
	if f, clean, err := s.ReserveFrameClean(); err != nil || clean {
		t.Fatalf("reserve after reopen: frame %d clean %v, %v", f, clean, err)
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
