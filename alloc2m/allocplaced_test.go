package alloc2m

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestAllocPlaced: allocation, placement and (for read-write) the mark are
// one record and one WAL sync, so a crash right after AllocPlaced reopens
// the block in its frame, unclean if marked; a failure leaves no block and
// gives the frame back.
func TestAllocPlaced(t *testing.T) {
	errPrepare := errors.New("prepare failed")
	tests := []struct {
		name    string
		rw      bool
		pre     func(s *Store) error // before AllocPlaced of id(1)
		nowhere bool                 // give AllocPlaced no frame
		prepare func(uint64) error
		wantErr error
		want    Block // after a crash
	}{
		{name: "read-only", want: inFrame(id(1), 0)},
		{name: "read-write", rw: true, want: Block{ID: id(1), Loc: FrameLoc(0), MarkedRW: true, Unclean: true}},
		{name: "prepared", prepare: func(uint64) error { return nil }, want: inFrame(id(1), 0)},
		{name: "exists", pre: func(s *Store) error { return s.Alloc(id(1)) }, wantErr: ErrExist},
		{name: "prepare-fails", prepare: func(uint64) error { return errPrepare }, wantErr: errPrepare},
		{name: "nowhere", nowhere: true, wantErr: ErrInvalid},
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
			var frame Location
			if !tt.nowhere {
				f, err := s.ReserveFrame()
				if err != nil {
					t.Fatal(err)
				}
				frame = FrameLoc(f)
			}
			before := syncs.n.Load()
			b, err := s.AllocPlaced(id(1), frame, tt.rw, tt.prepare)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AllocPlaced: %v, want %v", err, tt.wantErr)
				}
				if st := s.Stats(); st.FreeFrames != st.Frames {
					t.Fatalf("after a refused AllocPlaced %d of %d frames are free: the frame was not released", st.FreeFrames, st.Frames)
				}
				if tt.pre == nil {
					if _, err := s.Lookup(id(1)); !errors.Is(err, ErrNotFound) {
						t.Fatalf("after a refused AllocPlaced the block is %v, want ErrNotFound", err)
					}
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
