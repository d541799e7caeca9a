package alloc2m

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestAllocPlaced: allocation, placement and (for read-write) the mark are
// one record and one WAL sync, so a crash right after AllocPlaced reopens
// the block in its frame, unclean if marked; prepare zeroes the frame the
// reservation gave; a refusal leaves no block and no frame taken, and a
// store at capacity refuses before it reserves anything.
func TestAllocPlaced(t *testing.T) {
	errPrepare := errors.New("prepare failed")
	tests := []struct {
		name     string
		rw       bool
		pre      func(s *Store) error // before AllocPlaced of id(1)
		reserve  func(s *Store) FrameFunc
		prepare  bool  // a prepare that checks it gets the reserved frame
		failPrep bool  // a prepare that fails
		wantErr  error // nil: want Block
		want     Block // after a crash
	}{
		{name: "read-only", want: inFrame(id(1), 0)},
		{name: "read-write", rw: true, want: Block{ID: id(1), Loc: FrameLoc(0), MarkedRW: true, Unclean: true}},
		{name: "prepared", prepare: true, want: inFrame(id(1), 0)},
		{name: "exists", pre: func(s *Store) error { return s.Alloc(id(1)) }, wantErr: ErrExist},
		{name: "prepare-fails", failPrep: true, wantErr: errPrepare},
		{name: "no-frame", reserve: func(*Store) FrameFunc {
			return func() (Location, func(uint64) error, error) { return Location{}, nil, ErrNoSpace }
		}, wantErr: ErrNoSpace},
		{name: "at-capacity", pre: func(s *Store) error {
			for i := uint64(2); i < 6; i++ {
				if err := s.Alloc(id(i)); err != nil {
					return err
				}
			}
			return nil
		}, reserve: func(*Store) FrameFunc {
			return func() (Location, func(uint64) error, error) { panic("a frame reserved for a block over capacity") }
		}, wantErr: ErrNoSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			syncs := &walSyncs{}
			s := openMem(t, errorfs.Wrap(mem, syncs), 4)
			if tt.pre != nil {
				if err := tt.pre(s); err != nil {
					t.Fatal(err)
				}
			}
			blocks := s.Stats().Blocks
			reserved := uint64(1 << 63)
			reserve := func() (Location, func(uint64) error, error) {
				f, err := s.ReserveFrame()
				reserved = f
				var prepare func(uint64) error
				switch {
				case tt.failPrep:
					prepare = func(uint64) error { return errPrepare }
				case tt.prepare:
					prepare = func(f uint64) error {
						if f != reserved {
							t.Errorf("prepare of frame %d, reserved %d", f, reserved)
						}
						return nil
					}
				}
				return FrameLoc(f), prepare, err
			}
			if tt.reserve != nil {
				reserve = tt.reserve(s)
			}
			before := syncs.n.Load()
			b, err := s.AllocPlaced(id(1), tt.rw, reserve)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AllocPlaced: %v, want %v", err, tt.wantErr)
				}
				if st := s.Stats(); st.FreeFrames != st.Frames || st.Blocks != blocks {
					t.Fatalf("after a refused AllocPlaced: %d of %d frames free, %d blocks (%d before)", st.FreeFrames, st.Frames, st.Blocks, blocks)
				}
				s.Close()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := syncs.n.Load() - before; n != 1 {
				t.Fatalf("%d WAL syncs, want 1", n)
			}
			if b.MarkedRW != tt.rw || b.Loc != FrameLoc(0) {
				t.Fatalf("allocated %+v, want frame 0, MarkedRW %v", b, tt.rw)
			}
			if st := s.Stats(); st.Blocks != 1 || st.Unplaced != 0 || st.FreeFrames != st.Frames-1 {
				t.Fatalf("stats %+v: want 1 block, none unplaced, one frame taken", st)
			}
			wantAfterCrash(t, mem, s, tt.want)
		})
	}
}
