package alloc2m

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/brick-storage/brick/protocol"
)

var (
	testUUID  = [16]byte{0xb7, 0x1c, 0x4e, 0x55, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	otherUUID = [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	quiet     = slog.New(slog.DiscardHandler)
)

const dir = "/meta"

func id(n uint64) uint64 { return n * BlockSize }

func openMem(t testing.TB, fsys vfs.FS, frames uint64) *Store {
	t.Helper()
	s, err := Open(dir, Options{UUID: testUUID, Frames: frames, FS: fsys, Logger: quiet})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAlloc(t testing.TB, s *Store, ids ...uint64) {
	t.Helper()
	for _, i := range ids {
		if err := allocIn(s, i, nil); err != nil {
			t.Fatalf("Alloc(%#x): %v", i, err)
		}
	}
}

// allocIn allocates id and places it in the lowest free frame, calling
// prepare there; if placing fails the block is freed again.
func allocIn(s *Store, id uint64, prepare func(frame uint64) error) error {
	if err := s.Alloc(id); err != nil {
		return err
	}
	if _, err := s.Place(id, Location{}, prepare); err != nil {
		if ferr := s.Free(id); ferr != nil {
			return errors.Join(err, ferr)
		}
		return err
	}
	return nil
}

// inFrame is a clean block resident in frame f.
func inFrame(id, f uint64) Block { return Block{ID: id, Loc: FrameLoc(f), Frame: f} }

// walker is a Store or a View.
type walker interface {
	Walk(first, last uint64, fn func(Block) bool)
}

// snapshot returns the store's blocks by ID.
func snapshot(s walker) map[uint64]Block {
	m := map[uint64]Block{}
	s.Walk(0, MaxID, func(b Block) bool { m[b.ID] = b; return true })
	return m
}

func TestVerbErrors(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 8)
	defer s.Close()
	mustAlloc(t, s, id(1))

	tests := []struct {
		name   string
		op     func() error
		want   error
		status protocol.Status // what a client is told
	}{
		{"alloc unaligned", func() error { return s.Alloc(id(2) + 4096) }, ErrUnaligned, protocol.StatusInvalid},
		{"alloc exists", func() error { return s.Alloc(id(1)) }, ErrExist, protocol.StatusExist},
		{"free unaligned", func() error { return s.Free(1) }, ErrUnaligned, protocol.StatusInvalid},
		{"free missing", func() error { return s.Free(id(7)) }, ErrNotFound, protocol.StatusNotFound},
		{"lookup unaligned", func() error { _, err := s.Lookup(3); return err }, ErrUnaligned, protocol.StatusInvalid},
		{"lookup missing", func() error { _, err := s.Lookup(id(7)); return err }, ErrNotFound, protocol.StatusNotFound},
		{"markrw unaligned", func() error { return s.MarkRW(5) }, ErrUnaligned, protocol.StatusInvalid},
		{"markrw missing", func() error { return s.MarkRW(id(7)) }, ErrNotFound, protocol.StatusNotFound},
		{"clearrw unaligned", func() error { return s.ClearRW(5) }, ErrUnaligned, protocol.StatusInvalid},
		{"clearrw missing", func() error { return s.ClearRW(id(7)) }, ErrNotFound, protocol.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "brick: ") {
				t.Fatalf("message %q lacks the brick: prefix", err)
			}
			if got := protocol.StatusOf(err); got != tt.status {
				t.Fatalf("status of %v = %v, want %v", err, got, tt.status)
			}
		})
	}
	for err, want := range map[error]protocol.Status{
		ErrNoSpace: protocol.StatusNoSpace, ErrBusy: protocol.StatusBusy, ErrCorrupt: protocol.StatusInternal,
	} {
		if got := protocol.StatusOf(fmt.Errorf("block %#x: %w", id(1), err)); got != want {
			t.Errorf("status of %v = %v, want %v", err, got, want)
		}
	}
	if st := s.Stats(); st != (Stats{Frames: 8, FreeFrames: 7, Blocks: 1, Capacity: 8}) {
		t.Fatalf("stats after failed verbs: %+v", st)
	}
}

func TestAllocFreeReopen(t *testing.T) {
	fsys := vfs.NewMem()
	s := openMem(t, fsys, 8)
	var prepared []uint64
	for _, i := range []uint64{id(5), 0, MaxID} {
		if err := allocIn(s, i, func(f uint64) error { prepared = append(prepared, f); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(prepared, []uint64{0, 1, 2}) {
		t.Fatalf("frames prepared %v, want lowest first", prepared)
	}
	if err := s.Free(0); err != nil {
		t.Fatal(err)
	}
	mustAlloc(t, s, id(9)) // reuses frame 1
	if err := s.MarkRW(MaxID); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRW(id(5)); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearRW(id(5)); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]Block{
		id(5): inFrame(id(5), 0),
		id(9): inFrame(id(9), 1),
		MaxID: {ID: MaxID, Loc: FrameLoc(2), Frame: 2, MarkedRW: true},
	}
	if got := snapshot(s); !maps.Equal(got, want) {
		t.Fatalf("before reopen: %v, want %v", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Alloc(id(3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Alloc after Close: %v", err)
	}

	s = openMem(t, fsys, 8)
	defer s.Close()
	want[MaxID] = Block{ID: MaxID, Loc: FrameLoc(2), Frame: 2, MarkedRW: true, Unclean: true}
	if got := snapshot(s); !maps.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
	if st := s.Stats(); st != (Stats{Frames: 8, FreeFrames: 5, Blocks: 3, Unclean: 1, Capacity: 8}) {
		t.Fatalf("stats %+v", st)
	}
	if s.UUID() != testUUID {
		t.Fatalf("UUID %x", s.UUID())
	}
	// MarkRW on an unclean block keeps it unclean; ClearRW clears both.
	if err := s.MarkRW(MaxID); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Lookup(MaxID); !b.Unclean {
		t.Fatal("MarkRW cleared Unclean")
	}
	if err := s.ClearRW(MaxID); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Lookup(MaxID); b.Unclean || b.MarkedRW {
		t.Fatalf("after ClearRW: %+v", b)
	}
	if st := s.Stats(); st.Unclean != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The next frame handed out is the lowest free one.
	var got uint64
	if err := allocIn(s, id(100), func(f uint64) error { got = f; return nil }); err != nil || got != 3 {
		t.Fatalf("Alloc: frame %d, %v; want frame 3", got, err)
	}
}

func TestNoSpace(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 4)
	defer s.Close()
	mustAlloc(t, s, id(0), id(1), id(2), id(3))
	if err := s.Alloc(id(4)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Alloc with no frames: %v, want ErrNoSpace", err)
	}
	if st := s.Stats(); st.FreeFrames != 0 || st.Blocks != 4 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Free(id(2)); err != nil {
		t.Fatal(err)
	}
	var frame uint64
	if err := allocIn(s, id(4), func(f uint64) error { frame = f; return nil }); err != nil {
		t.Fatalf("Alloc after Free: %v", err)
	}
	if frame != 2 {
		t.Fatalf("got frame %d, want the freed frame 2", frame)
	}
}

func TestPrepareFailure(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 4)
	defer s.Close()
	mustAlloc(t, s, id(1))
	before := s.Stats()
	errZero := errors.New("zeroing failed")
	err := allocIn(s, id(2), func(uint64) error { return errZero })
	if !errors.Is(err, errZero) {
		t.Fatalf("Alloc: %v, want the prepare error", err)
	}
	if _, err := s.Lookup(id(2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup after failed Alloc: %v", err)
	}
	if st := s.Stats(); st != before {
		t.Fatalf("stats %+v, want %+v", st, before)
	}
	var frame uint64
	if err := allocIn(s, id(2), func(f uint64) error { frame = f; return nil }); err != nil || frame != 1 {
		t.Fatalf("retry: frame %d, %v; want frame 1 again", frame, err)
	}
}

// walWrites fails writes and syncs of Pebble's WAL while on.
type walWrites struct{ on atomic.Bool }

func (w *walWrites) String() string { return "wal-writes" }

func (w *walWrites) MaybeError(op errorfs.Op) error {
	if !w.on.Load() || !strings.HasSuffix(op.Path, ".log") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		return errorfs.ErrInjected
	}
	return nil
}

func TestCommitFailure(t *testing.T) {
	mem := vfs.NewMem()
	inj := &walWrites{}
	s := openMem(t, errorfs.Wrap(mem, inj), 4)
	mustAlloc(t, s, id(1))
	if err := s.MarkRW(id(1)); err != nil {
		t.Fatal(err)
	}
	before, blocks := s.Stats(), snapshot(s)

	inj.on.Store(true)
	err := s.Alloc(id(2))
	inj.on.Store(false)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Alloc with failing WAL: %v, want ErrFailed", err)
	}
	t.Logf("commit failure: %v", err)
	if st := s.Stats(); st != before {
		t.Fatalf("stats %+v, want %+v", st, before)
	}
	if got := snapshot(s); !maps.Equal(got, blocks) {
		t.Fatalf("blocks %v, want %v", got, blocks)
	}
	// A failed store refuses changes; reads still work.
	for name, op := range map[string]func() error{
		"alloc":   func() error { return s.Alloc(id(3)) },
		"free":    func() error { return s.Free(id(1)) },
		"clearrw": func() error { return s.ClearRW(id(1)) },
	} {
		if err := op(); !errors.Is(err, ErrFailed) {
			t.Errorf("%s after failure: %v, want ErrFailed", name, err)
		}
	}
	if _, err := s.Lookup(id(1)); err != nil {
		t.Fatalf("Lookup after failure: %v", err)
	}
	t.Logf("close after failure: %v", s.Close())

	// Reopening recovers from what is durable.
	s = openMem(t, mem, 4)
	defer s.Close()
	if got := snapshot(s); len(got) != 1 || got[id(1)].Frame != 0 || !got[id(1)].MarkedRW {
		t.Fatalf("after reopen: %v", got)
	}
}

// TestPending checks what other callers see while an Alloc, a Place, a
// Free or a mark update is between its reservation and its commit.
func TestPending(t *testing.T) {
	s := openMem(t, vfs.NewMem(), 4)
	defer s.Close()
	mustAlloc(t, s, id(1))

	// A pending Alloc: reserved in memory, hidden until acknowledged.
	s.mu.Lock()
	s.mu.blocks.ReplaceOrInsert(id(4), &record{state: stateAllocating})
	s.mu.Unlock()
	for name, c := range map[string]struct {
		op   func() error
		want error
	}{
		"alloc same id":  {func() error { return s.Alloc(id(4)) }, ErrExist},
		"free pending":   {func() error { return s.Free(id(4)) }, ErrNotFound},
		"lookup pending": {func() error { _, err := s.Lookup(id(4)); return err }, ErrNotFound},
		"markrw pending": {func() error { return s.MarkRW(id(4)) }, ErrNotFound},
		"place pending":  {func() error { _, err := s.Place(id(4), Location{}, nil); return err }, ErrNotFound},
	} {
		if err := c.op(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if n := len(snapshot(s)); n != 1 {
		t.Errorf("Walk sees %d blocks, want 1 (pending Alloc hidden)", n)
	}
	s.mu.Lock()
	s.mu.blocks.Delete(id(4))
	s.mu.Unlock()

	// A pending Place: the block is live and busy, its frame reserved.
	if err := s.Alloc(id(2)); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		_, err := s.Place(id(2), Location{}, func(uint64) error { close(entered); <-release; return nil })
		done <- err
	}()
	<-entered
	checks := []struct {
		name string
		op   func() error
		want error
	}{
		{"alloc same id", func() error { return s.Alloc(id(2)) }, ErrExist},
		{"free while placing", func() error { return s.Free(id(2)) }, ErrBusy},
		{"markrw while placing", func() error { return s.MarkRW(id(2)) }, ErrBusy},
		{"place twice", func() error { _, err := s.Place(id(2), Location{}, nil); return err }, ErrBusy},
		{"other ids proceed", func() error { return s.Alloc(id(3)) }, nil},
	}
	for _, c := range checks {
		if err := c.op(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if b, err := s.Lookup(id(2)); err != nil || b.Loc.Kind != Nowhere {
		t.Errorf("lookup while placing: %+v %v, want the committed (unplaced) block", b, err)
	}
	if st := s.Stats(); st.Blocks != 3 || st.FreeFrames != 2 || st.Unplaced != 2 {
		t.Errorf("stats %+v: the pending frame must be reserved", st)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Lookup(id(2)); b.Loc != FrameLoc(1) {
		t.Errorf("placed in %v, want frame 1", b.Loc)
	}

	// A live block being changed is busy for other changes.
	s.mu.Lock()
	r, _ := s.lookupLocked(id(1))
	r.state = stateFreeing
	s.mu.Unlock()
	for name, op := range map[string]func() error{
		"free":    func() error { return s.Free(id(1)) },
		"markrw":  func() error { return s.MarkRW(id(1)) },
		"clearrw": func() error { return s.MarkRW(id(1)) },
	} {
		if err := op(); !errors.Is(err, ErrBusy) {
			t.Errorf("%s while freeing: %v, want ErrBusy", name, err)
		}
	}
	if _, err := s.Lookup(id(1)); err != nil {
		t.Errorf("Lookup while freeing: %v (still allocated until the commit)", err)
	}
	s.mu.Lock()
	r.state = stateLive
	s.mu.Unlock()
}

func TestUUIDMismatch(t *testing.T) {
	fsys := vfs.NewMem()
	openMem(t, fsys, 4).Close()
	_, err := Open(dir, Options{UUID: otherUUID, Frames: 4, FS: fsys, Logger: quiet})
	if !errors.Is(err, ErrUUIDMismatch) {
		t.Fatalf("Open with another UUID: %v, want ErrUUIDMismatch", err)
	}
	for _, want := range []string{"belongs to brick b71c4e55-0102-", "pmem region is brick deadbeef-0102-", "refusing to start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
}

func TestOpenOptions(t *testing.T) {
	fsys := vfs.NewMem()
	for _, o := range []Options{{UUID: testUUID}, {Frames: 4}} {
		o.FS, o.Logger = fsys, quiet
		if _, err := Open(dir, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%+v): %v, want ErrInvalid", o, err)
		}
	}
}

func TestResize(t *testing.T) {
	fsys := vfs.NewMem()
	s := openMem(t, fsys, 4)
	mustAlloc(t, s, id(0), id(1), id(2))
	s.Free(id(0))
	s.Free(id(1))
	s.Close() // frame 2 in use

	s = openMem(t, fsys, 16) // grow
	if st := s.Stats(); st.Frames != 16 || st.FreeFrames != 15 {
		t.Fatalf("after growing: %+v", st)
	}
	s.Close()
	if _, err := Open(dir, Options{UUID: testUUID, Frames: 2, FS: fsys, Logger: quiet}); !errors.Is(err, ErrTooSmall) {
		t.Fatalf("shrinking below a used frame: %v, want ErrTooSmall", err)
	}
	s = openMem(t, fsys, 3) // shrinking to just fit is fine
	if st := s.Stats(); st.Frames != 3 || st.FreeFrames != 2 {
		t.Fatalf("after shrinking: %+v", st)
	}
	s.Close()
	s = openMem(t, fsys, 3)
	s.Close()
}

func TestCorruptRecords(t *testing.T) {
	block := func(n uint64) []byte { return blockKey(id(n)) }
	tests := []struct {
		name string
		kvs  [][2][]byte
		want error
	}{
		{"empty value", [][2][]byte{{block(1), {}}}, ErrCorrupt},
		{"short value", [][2][]byte{{block(1), {recordVersion, 0, 1}}}, ErrCorrupt},
		{"long value", [][2][]byte{{block(1), append(encodeRecord(FrameLoc(0), 0), 0)}}, ErrCorrupt},
		{"unknown version", [][2][]byte{{block(1), {9, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}, ErrCorrupt},
		{"short version 1", [][2][]byte{{block(1), {recordV1, 0, 0, 0, 0, 0, 0, 0, 0}}}, ErrCorrupt},
		{"unknown location", [][2][]byte{{block(1), {recordVersion, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}, ErrCorrupt},
		{"nowhere with index", [][2][]byte{{block(1), {recordVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}}, ErrCorrupt},
		{"reserved byte", [][2][]byte{{block(1), {recordVersion, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1}}}, ErrCorrupt},
		{"slot without a tier", [][2][]byte{{block(1), encodeRecord(SlotLoc(0), 0)}}, ErrCorrupt},
		{"bad slots meta", [][2][]byte{{[]byte(keyMetaSlots), []byte{1}}}, ErrCorrupt},
		{"unknown flags", [][2][]byte{{block(1), encodeRecord(FrameLoc(0), 0x80)}}, ErrCorrupt},
		{"frame past the store", [][2][]byte{{block(1), encodeRecord(FrameLoc(8), 0)}}, ErrCorrupt},
		{"frame claimed twice", [][2][]byte{{block(1), encodeRecord(FrameLoc(3), 0)}, {block(2), encodeRecord(FrameLoc(3), 0)}}, ErrCorrupt},
		{"unaligned id", [][2][]byte{{append([]byte{'b'}, 0, 0, 0, 0, 0, 0, 0x10, 0), encodeRecord(FrameLoc(0), 0)}}, ErrCorrupt},
		{"short key", [][2][]byte{{[]byte("b123"), encodeRecord(FrameLoc(0), 0)}}, ErrCorrupt},
		{"bad schema", [][2][]byte{{[]byte(keyMetaSchema), encodeU32(7)}}, ErrCorrupt},
		{"bad frames meta", [][2][]byte{{[]byte(keyMetaFrames), []byte{1}}}, ErrCorrupt},
		{"missing uuid", [][2][]byte{{[]byte(keyMetaUUID), nil}}, ErrCorrupt},
		{"missing identity", [][2][]byte{{[]byte(keyMetaStore), nil}, {[]byte(keyMetaGen), nil}}, ErrCorrupt},
		{"store id without generation", [][2][]byte{{[]byte(keyMetaGen), nil}}, ErrCorrupt},
		{"bad generation", [][2][]byte{{[]byte(keyMetaGen), []byte{1}}}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			openMem(t, fsys, 8).Close()
			db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: newPebbleLogger(quiet)})
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range tt.kvs {
				if kv[1] == nil {
					err = db.Delete(kv[0], pebble.Sync)
				} else {
					err = db.Set(kv[0], kv[1], pebble.Sync)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			s, err := Open(dir, Options{UUID: testUUID, Frames: 8, FS: fsys, Logger: quiet})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted corrupt metadata")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}
}

func TestOpenReadOnly(t *testing.T) {
	d := t.TempDir()
	s, err := Open(d, Options{UUID: testUUID, Frames: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	mustAlloc(t, s, id(1), id(2))
	if err := s.MarkRW(id(2)); err != nil {
		t.Fatal(err)
	}

	_, err = OpenReadOnly(d)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("OpenReadOnly while open: %v, want ErrLocked", err)
	}
	if want := "metadata store " + d + " is in use by a running brickd; stop it or ask it with brickctl list"; !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	if _, err := Open(d, Options{UUID: testUUID, Frames: 8, Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(d)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint64]Block{
		id(1): inFrame(id(1), 0),
		id(2): {ID: id(2), Loc: FrameLoc(1), Frame: 1, MarkedRW: true, Unclean: true},
	}
	if got := snapshot(ro); !maps.Equal(got, want) {
		t.Fatalf("read-only view %v, want %v", got, want)
	}
	if ro.UUID() != testUUID || ro.Stats().Frames != 8 {
		t.Fatalf("uuid %x stats %+v", ro.UUID(), ro.Stats())
	}
	for name, op := range map[string]func() error{
		"alloc":   func() error { return ro.store.Alloc(id(3)) },
		"free":    func() error { return ro.store.Free(id(1)) },
		"markrw":  func() error { return ro.store.MarkRW(id(1)) },
		"clearrw": func() error { return ro.store.ClearRW(id(2)) },
	} {
		if err := op(); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on read-only store: %v, want ErrReadOnly", name, err)
		}
	}
	if _, err := Open(d, Options{UUID: testUUID, Frames: 8, Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while read-only open: %v, want ErrLocked", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(t.TempDir() + "/nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly of a missing dir: %v, want fs.ErrNotExist", err)
	}
	if _, err := OpenReadOnly(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenReadOnly of an empty dir: %v, want fs.ErrNotExist", err)
	}
	// The store still opens read-write after all that.
	s, err = Open(d, Options{UUID: testUUID, Frames: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestCrash runs random verbs and, after every acknowledged synced one,
// takes a crash image holding only what was synced. Each image must reopen
// to exactly the acknowledged state (ClearRW is lazy but is carried by the
// next synced commit), with marked blocks Unclean.
func TestCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openMem(t, mem, 16)
	rng := rand.New(rand.NewPCG(1, 1))
	model := map[uint64]Block{}
	var images []memCrash
	for step := range 300 {
		n := id(uint64(rng.IntN(24)))
		var err error
		synced := true
		switch op := rng.IntN(10); {
		case op < 4:
			var frame uint64
			err = allocIn(s, n, func(f uint64) error { frame = f; return nil })
			if err == nil {
				model[n] = inFrame(n, frame)
			}
		case op < 6:
			err = s.Free(n)
			if err == nil {
				delete(model, n)
			}
		case op < 8:
			err = s.MarkRW(n)
			if err == nil {
				b := model[n]
				b.MarkedRW = true
				model[n] = b
			}
		default:
			synced = false
			err = s.ClearRW(n)
			if err == nil {
				b := model[n]
				b.MarkedRW = false
				model[n] = b
			}
		}
		if err != nil && !errors.Is(err, ErrExist) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNoSpace) {
			t.Fatalf("step %d: %v", step, err)
		}
		if synced && err == nil && step%3 == 0 {
			want := map[uint64]Block{}
			for k, b := range model {
				b.Unclean = b.MarkedRW
				want[k] = b
			}
			images = append(images, memCrash{mem.CrashClone(vfs.CrashCloneCfg{}), want, step})
		}
	}
	// A crash with some unsynced data surviving must still hold every
	// acknowledged synced change.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkCrashImages(t, images, 20, func(fs vfs.FS) *Store { return openMem(t, fs, 16) }, func(c *Store, im memCrash) {
		st := c.Stats()
		if st.Blocks != uint64(len(im.want)) || st.FreeFrames != 16-st.Blocks {
			t.Fatalf("crash after step %d: stats %+v", im.step, st)
		}
	})
}

// memCrash is the store's in-memory files as a crash after step left them,
// and the blocks they must reopen to.
type memCrash struct {
	fs   *vfs.MemFS
	want map[uint64]Block
	step int
}

// checkCrashImages wants at least min images, each reopening (by open) to
// exactly its blocks; check tests the rest of what the reopened store shows.
func checkCrashImages(t *testing.T, images []memCrash, min int, open func(vfs.FS) *Store, check func(*Store, memCrash)) {
	t.Helper()
	if len(images) < min {
		t.Fatalf("only %d crash images", len(images))
	}
	for _, im := range images {
		c := open(im.fs)
		if got := snapshot(c); !maps.Equal(got, im.want) {
			t.Fatalf("crash after step %d: reopened %v, want %v", im.step, got, im.want)
		}
		check(c, im)
		c.Close()
	}
}

// TestCrashConcurrent crashes after many concurrent acknowledged Allocs
// (which share fsyncs) and checks every one survived.
func TestCrashConcurrent(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openMem(t, mem, 512)
	const workers, per = 8, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				n := id(uint64(w*per + i))
				if err := s.Alloc(n); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 {
					if err := s.MarkRW(n); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(2, 2))})
	want := snapshot(s)
	s.Close()
	c := openMem(t, crashed, 512)
	defer c.Close()
	got := snapshot(c)
	if len(got) != workers*per {
		t.Fatalf("%d blocks survived, want %d", len(got), workers*per)
	}
	for k, b := range want {
		b.Unclean = b.MarkedRW
		if got[k] != b {
			t.Fatalf("block %#x: %+v, want %+v", k, got[k], b)
		}
	}
}

func TestConcurrentAlloc(t *testing.T) {
	const workers, per = 16, 50
	s := openMem(t, vfs.NewMem(), workers*per)
	defer s.Close()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				n := id(uint64(w*per + i))
				if err := allocIn(s, n, nil); err != nil {
					t.Errorf("Alloc(%#x): %v", n, err)
				}
				if i%5 == 0 {
					if err := s.Free(n); err != nil {
						t.Errorf("Free(%#x): %v", n, err)
					}
					if err := allocIn(s, n, nil); err != nil {
						t.Errorf("re-Alloc(%#x): %v", n, err)
					}
				}
			}
		})
	}
	wg.Wait()
	frames := map[uint64]uint64{}
	s.Walk(0, MaxID, func(b Block) bool {
		if other, dup := frames[b.Frame]; dup {
			t.Fatalf("blocks %#x and %#x share frame %d", other, b.ID, b.Frame)
		}
		frames[b.Frame] = b.ID
		return true
	})
	if len(frames) != workers*per {
		t.Fatalf("%d blocks, want %d", len(frames), workers*per)
	}
	if st := s.Stats(); st.FreeFrames != 0 || st.Blocks != workers*per {
		t.Fatalf("stats %+v", st)
	}

	// Many goroutines racing for one ID: exactly one wins.
	s2 := openMem(t, vfs.NewMem(), 4)
	defer s2.Close()
	var wins atomic.Int32
	for range workers {
		wg.Go(func() {
			switch err := s2.Alloc(id(7)); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, ErrExist):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d winners", wins.Load())
	}
}

func TestWalk(t *testing.T) {
	defer func(n int) { walkChunk = n }(walkChunk)
	walkChunk = 3 // cross chunk boundaries

	s := openMem(t, vfs.NewMem(), 16)
	defer s.Close()
	ids := []uint64{0, id(1), id(2), id(10), id(11), id(1 << 40), MaxID - BlockSize, MaxID}
	mustAlloc(t, s, ids...)
	collect := func(first, last uint64, limit int) []uint64 {
		var got []uint64
		s.Walk(first, last, func(b Block) bool {
			got = append(got, b.ID)
			return len(got) < limit
		})
		return got
	}
	tests := []struct {
		name        string
		first, last uint64
		limit       int
		want        []uint64
	}{
		{"everything", 0, MaxID, 100, ids},
		{"to MaxUint64", 0, ^uint64(0), 100, ids},
		{"top block only", MaxID, MaxID, 100, []uint64{MaxID}},
		{"top two", MaxID - BlockSize, ^uint64(0), 100, []uint64{MaxID - BlockSize, MaxID}},
		{"zero only", 0, 0, 100, []uint64{0}},
		{"inner range", id(1), id(10), 100, []uint64{id(1), id(2), id(10)}},
		{"unaligned bounds", id(1) + 1, id(11) - 1, 100, []uint64{id(2), id(10)}},
		{"empty range", id(3), id(9), 100, nil},
		{"inverted", id(10), id(1), 100, nil},
		{"stop early", 0, MaxID, 4, ids[:4]},
		{"stop at chunk edge", 0, MaxID, 3, ids[:3]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := collect(tt.first, tt.last, tt.limit); !slices.Equal(got, tt.want) {
				t.Fatalf("Walk(%#x, %#x) = %#x, want %#x", tt.first, tt.last, got, tt.want)
			}
		})
	}
	// fn may call the store.
	s.Walk(0, MaxID, func(b Block) bool {
		if _, err := s.Lookup(b.ID); err != nil {
			t.Fatal(err)
		}
		return true
	})
}

func BenchmarkAllocSerial(b *testing.B) {
	s := benchStore(b)
	defer s.Close()
	var n atomic.Uint64
	b.ResetTimer()
	for b.Loop() {
		if err := s.Alloc(id(n.Add(1))); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllocParallel(b *testing.B) {
	s := benchStore(b)
	defer s.Close()
	var n atomic.Uint64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Alloc(id(n.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGroupCommit reports the group-commit gain directly: the time of
// 256 synced Allocs one after another over the time of 256 Allocs from 16
// goroutines, as the "speedup" metric.
func BenchmarkGroupCommit(b *testing.B) {
	const n, workers = 256, 16
	s := benchStore(b)
	defer s.Close()
	var next atomic.Uint64
	var serial, parallel time.Duration
	for b.Loop() {
		start := time.Now()
		for range n {
			if err := s.Alloc(id(next.Add(1))); err != nil {
				b.Fatal(err)
			}
		}
		serial += time.Since(start)
		start = time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range n / workers {
					if err := s.Alloc(id(next.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		parallel += time.Since(start)
	}
	b.ReportMetric(float64(serial)/float64(parallel), "speedup")
}

func benchStore(b *testing.B) *Store {
	s, err := Open(b.TempDir(), Options{UUID: testUUID, Frames: 1 << 20, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func Example() {
	// The brick opens its region's metadata with the region's UUID.
	s, err := Open("/meta", Options{UUID: testUUID, Frames: 4, FS: vfs.NewMem(), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	// Alloc reserves the ID; the block has no frame until it is placed.
	fmt.Println(s.Alloc(0x200000))
	err = s.Alloc(0x200000)
	fmt.Println(errors.Is(err, ErrExist), err)
	// The brick places it in a frame at its first map, zeroing the frame.
	b, err := s.Place(0x200000, Location{}, func(frame uint64) error {
		fmt.Println("zero frame", frame)
		return nil
	})
	fmt.Println(b.Loc, err)
	// Output:
	// <nil>
	// true alloc 0x200000: brick: block already allocated
	// zero frame 0
	// frame 0 <nil>
}

// TestOpenReadOnlyCorruptGeometry: a read-only open sizes its bitmaps from
// the recorded frame and slot counts (there is no region to ask), so a
// damaged count must be refused as ErrCorrupt, not panic or exhaust memory.
func TestOpenReadOnlyCorruptGeometry(t *testing.T) {
	tests := []struct {
		name string
		key  string
		val  uint64
	}{
		{"frames all ones", keyMetaFrames, math.MaxUint64},
		{"frames past the limit", keyMetaFrames, maxCount + 1},
		{"slots all ones", keyMetaSlots, math.MaxUint64},
		{"slots past the limit", keyMetaSlots, maxCount + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := t.TempDir()
			s, err := Open(d, Options{UUID: testUUID, Frames: 8, Slots: 4, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			mustAlloc(t, s, id(1))
			s.Close()
			db, err := pebble.Open(d, &pebble.Options{Logger: newPebbleLogger(quiet)})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set([]byte(tt.key), encodeU64(tt.val), pebble.Sync); err != nil {
				t.Fatal(err)
			}
			db.Close()
			ro, err := OpenReadOnly(d)
			if err == nil {
				ro.Close()
				t.Fatal("OpenReadOnly accepted a corrupt geometry")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenReadOnly: %v, want ErrCorrupt", err)
			}
			// A writable open takes the geometry from the region and still works.
			s, err = Open(d, Options{UUID: testUUID, Frames: 8, Slots: 4, Logger: quiet})
			if err != nil {
				t.Fatalf("Open after a corrupt geometry: %v", err)
			}
			if b, err := s.Lookup(id(1)); err != nil || b.Loc != FrameLoc(0) {
				t.Fatalf("Lookup = %v, %v", b, err)
			}
			s.Close()
		})
	}
}
