package alloc2m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/cockroachdb/pebble/v2/wal"
)

// lastWAL returns the path of the newest write-ahead log in d.
func lastWAL(t *testing.T, d string) string {
	t.Helper()
	ents, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	var last string
	var lastNum wal.NumWAL
	for _, e := range ents {
		if n, _, ok := wal.ParseLogFilename(e.Name()); ok && (last == "" || n > lastNum) {
			last, lastNum = filepath.Join(d, e.Name()), n
		}
	}
	if last == "" {
		t.Fatalf("no write-ahead log in %s", d)
	}
	return last
}

// crashImage copies the store directory d while the store is open: what a
// crash would leave of it (every commit was synced).
func crashImage(t *testing.T, d string) string {
	t.Helper()
	img := t.TempDir()
	if err := os.CopyFS(img, os.DirFS(d)); err != nil {
		t.Fatal(err)
	}
	return img
}

// TestWALDamage pins issue 11 fault 4 (WAL): a log damaged in the middle
// was replayed up to the damage and the rest dropped without an error, so
// acknowledged blocks vanished or read as zeros. Damage followed by records
// that were synced after it is now refused, by both opens, without a byte
// of the store changing; a torn tail (nothing synced after it) still opens.
func TestWALDamage(t *testing.T) {
	tests := []struct {
		name   string
		blocks uint64                // allocated and placed before the crash
		damage func(b []byte) []byte // applied to the newest log
		want   error                 // nil: opens
		kept   uint64                // blocks that survive an accepted damage
	}{
		{"byte flipped mid-log", 40, func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }, ErrCorrupt, 0},
		{"zeroed range mid-log", 40, func(b []byte) []byte { clear(b[len(b)/3 : len(b)/3+64]); return b }, ErrCorrupt, 0},
		{"damage in an early block of a long log", 1500, func(b []byte) []byte { b[1000] ^= 0x01; return b }, ErrCorrupt, 0},
		{"torn last record", 40, func(b []byte) []byte { return b[:len(b)-5] }, nil, 39},
		{"last record zeroed", 40, func(b []byte) []byte { clear(b[len(b)-20:]); return b }, nil, 39},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := t.TempDir()
			s, err := Open(live, Options{UUID: testUUID, Frames: 2048, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.blocks {
				mustAlloc(t, s, id(i+1))
			}
			d := crashImage(t, live)
			s.Close()
			path := lastWAL(t, d)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = tt.damage(b)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			ro, rerr := OpenReadOnly(d)
			if rerr == nil {
				ro.Close()
			}
			s, err = Open(d, Options{UUID: testUUID, Frames: 2048, Logger: quiet})
			if tt.want == nil {
				if err != nil || rerr != nil {
					t.Fatalf("torn tail refused: %v / read-only: %v", err, rerr)
				}
				defer s.Close()
				// The last Place is lost: that block reads as zeros again,
				// which is right for a commit that was never acknowledged.
				if st := s.Stats(); st.Blocks != tt.kept+1 || st.Unplaced != 1 {
					t.Fatalf("after a torn tail: %+v, want %d placed blocks and one unplaced", st, tt.kept)
				}
				return
			}
			if err == nil {
				st := s.Stats()
				s.Close()
				t.Fatalf("Open accepted a damaged log and kept %d of %d blocks (%d unplaced)", st.Blocks, tt.blocks, st.Unplaced)
			}
			if !errors.Is(err, tt.want) || !errors.Is(rerr, tt.want) {
				t.Fatalf("Open: %v; read-only: %v; want %v", err, rerr, tt.want)
			}
			if !strings.Contains(err.Error(), "synced") {
				t.Errorf("message %q does not say why the damage is not a torn tail", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
				t.Fatal("the refused open rewrote the damaged log")
			}
		})
	}
}

// TestExpect pins issue 11 fault 4 (missing or replaced store): with the
// identity the pmem superblock records, Open refuses a missing, emptied,
// different or rolled-back store instead of starting a new one, and writes
// no brick metadata when it refuses.
func TestExpect(t *testing.T) {
	// base creates a store with two blocks and moves its generation on.
	base := func(t *testing.T, fsys vfs.FS) Identity {
		s := openMem(t, fsys, 8)
		defer s.Close()
		mustAlloc(t, s, id(1), id(2))
		for range 3 {
			if _, err := s.Advance(); err != nil {
				t.Fatal(err)
			}
		}
		return s.Identity()
	}
	removeLogs := func(t *testing.T, fsys vfs.FS) {
		ls, _ := fsys.List(dir)
		for _, n := range ls {
			if _, _, ok := wal.ParseLogFilename(n); ok {
				if err := fsys.Remove(fsys.PathJoin(dir, n)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tests := []struct {
		name string
		// prepare changes the store, and the identity to expect.
		prepare func(t *testing.T, fsys vfs.FS, id *Identity)
		want    error
	}{
		{"same", func(*testing.T, vfs.FS, *Identity) {}, nil},
		{"store one ahead (a crash before the superblock)", func(_ *testing.T, _ vfs.FS, id *Identity) { id.Generation-- }, nil},
		{"directory deleted", func(t *testing.T, fsys vfs.FS, _ *Identity) {
			if err := fsys.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}, ErrNoMetadata},
		// The store was flushed when it was created: without its log it
		// is back at generation 1.
		{"log deleted", func(t *testing.T, fsys vfs.FS, _ *Identity) { removeLogs(t, fsys) }, ErrRolledBack},
		{"store emptied (recreated by hand, or an older brick's log lost)", func(t *testing.T, fsys vfs.FS, _ *Identity) {
			if err := fsys.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: newPebbleLogger(quiet)})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
		}, ErrNoMetadata},
		{"another store", func(_ *testing.T, _ vfs.FS, id *Identity) { id.ID[0] ^= 1 }, ErrStoreMismatch},
		{"store rolled back", func(_ *testing.T, _ vfs.FS, id *Identity) { id.Generation += 3 }, ErrRolledBack},
		{"image rolled back", func(_ *testing.T, _ vfs.FS, id *Identity) { id.Generation -= 2 }, ErrRolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			want := base(t, fsys)
			gen := want.Generation
			tt.prepare(t, fsys, &want)
			before := readGen(t, fsys)
			s, err := Open(dir, Options{UUID: testUUID, Frames: 8, FS: fsys, Logger: quiet, Expect: want})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if got := s.Identity(); got.ID != want.ID || got.Generation != gen+1 {
					t.Fatalf("identity after open %+v, want %x at generation %d", got, want.ID, gen+1)
				}
				if s.Stats().Blocks != 2 {
					t.Fatalf("blocks %+v", s.Stats())
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a store the superblock does not vouch for")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			// The refusal wrote no brick metadata (and created no store).
			if got := readGen(t, fsys); got != before {
				t.Fatalf("a refused open changed the generation from %q to %q", before, got)
			}
		})
	}
}

// readGen returns the generation key of the store in dir as text, "none"
// without one, "no store" without a store.
func readGen(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	if ok, _ := exists(fsys, dir); !ok {
		return "no store"
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: fsys, Logger: newPebbleLogger(quiet), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, closer, err := db.Get([]byte(keyMetaGen))
	if errors.Is(err, pebble.ErrNotFound) {
		return "none"
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return fmt.Sprintf("%x", v)
}

// TestGenerations: every writable open and Advance move the generation
// on; a read-only open does not; a store from before identities gets one.
func TestGenerations(t *testing.T) {
	fsys := vfs.NewMem()
	s := openMem(t, fsys, 4)
	first := s.Identity()
	// Generation 1 is flushed with the new store, 2 is in its first log.
	if !first.Bound() || first.Generation != 2 {
		t.Fatalf("new store: %+v", first)
	}
	adv, err := s.Advance()
	if err != nil || adv.ID != first.ID || adv.Generation != 3 || s.Identity() != adv {
		t.Fatalf("Advance: %+v %v", adv, err)
	}
	s.Close()
	s = openMem(t, fsys, 4)
	if got := s.Identity(); got.ID != first.ID || got.Generation != 4 {
		t.Fatalf("reopened: %+v, want generation 4", got)
	}
	s.Close()
	if _, err := s.Advance(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Advance after Close: %v", err)
	}

	// A schema-2 store (no identity keys) opens without an expectation,
	// and is given an identity; with one it is refused.
	old := vfs.NewMem()
	openMem(t, old, 4).Close()
	db, err := pebble.Open(dir, &pebble.Options{FS: old, Logger: newPebbleLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{keyMetaStore, keyMetaGen} {
		if err := db.Delete([]byte(k), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Set([]byte(keyMetaSchema), encodeU32(schemaV2), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(dir, Options{UUID: testUUID, Frames: 4, FS: old, Logger: quiet, Expect: first}); !errors.Is(err, ErrStoreMismatch) {
		t.Fatalf("schema-2 store with an expectation: %v, want ErrStoreMismatch", err)
	}
	s = openMem(t, old, 4)
	if got := s.Identity(); !got.Bound() || got.Generation != 1 {
		t.Fatalf("schema-2 store after open: %+v", got)
	}
	s.Close()
}

// countHandler counts the records logged at each level.
type countHandler struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countHandler) WithGroup(string) slog.Handler            { return h }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[r.Level]++
	return nil
}

func (h *countHandler) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[l]
}

// sstNoSpace fails the creation and writes of sstables with ENOSPC while on.
type sstNoSpace struct{ on atomic.Bool }

func (w *sstNoSpace) String() string { return "sst-enospc" }

func (w *sstNoSpace) MaybeError(op errorfs.Op) error {
	if !w.on.Load() || !strings.HasSuffix(op.Path, ".sst") {
		return nil
	}
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		return &fs.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

// TestOpenDiskFull pins issue 11 fault 5: on a full metadata disk Open hung
// in Pebble's endless retries of the flush of the replayed log, logging
// every attempt. Now a file system that reports too little free space is
// refused before Pebble opens, and a flush that fails during the open fails
// it, with the error lines rate-limited.
func TestOpenDiskFull(t *testing.T) {
	t.Run("free space checked", func(t *testing.T) {
		fsys := vfs.NewMem()
		s := openMem(t, fsys, 8)
		mustAlloc(t, s, id(1))
		s.Close()
		fsys.TestingSetDiskUsage(vfs.DiskUsage{AvailBytes: 4096, TotalBytes: 1 << 30, UsedBytes: 1<<30 - 4096})
		_, err := Open(dir, Options{UUID: testUUID, Frames: 8, FS: fsys, Logger: quiet})
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "free space there") {
			t.Fatalf("Open on a full disk: %v, want ErrDiskFull saying what to do", err)
		}
		if ro, err := OpenReadOnly(t.TempDir()); err == nil { // read-only opens need no space
			ro.Close()
		}
	})

	t.Run("flush fails while opening", func(t *testing.T) {
		mem := vfs.NewMem()
		s := openMem(t, mem, 8)
		mustAlloc(t, s, id(1), id(2))
		s.Close()
		inj := &sstNoSpace{}
		inj.on.Store(true)
		fsys := errorfs.Wrap(mem, inj)
		logs := &countHandler{n: map[slog.Level]int{}}
		abandoned := make(chan struct{})
		openAbandoned = func() { close(abandoned) }
		defer func() { openAbandoned = func() {} }()

		errc := make(chan error, 1)
		go func() {
			s, err := Open(dir, Options{UUID: testUUID, Frames: 8, FS: fsys, Logger: slog.New(logs)})
			if err == nil {
				s.Close()
			}
			errc <- err
		}()
		var err error
		select {
		case err = <-errc:
		case <-time.After(30 * time.Second):
			t.Fatalf("Open still hangs on a failing flush after 30s, %d error lines logged", logs.count(slog.LevelError))
		}
		if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "free space") {
			t.Fatalf("Open: %v, want ErrDiskFull", err)
		}
		// Let the abandoned open finish, then the store opens intact.
		n := logs.count(slog.LevelError)
		inj.on.Store(false)
		select {
		case <-abandoned:
		case <-time.After(30 * time.Second):
			t.Fatal("the abandoned open did not finish once the disk had room")
		}
		if n > logBurst+1 {
			t.Errorf("%d error lines while Pebble retried; want at most %d", n, logBurst+1)
		}
		s, err = Open(dir, Options{UUID: testUUID, Frames: 8, FS: mem, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got, want := snapshot(s), map[uint64]Block{id(1): inFrame(id(1), 0), id(2): inFrame(id(2), 1)}; !maps.Equal(got, want) {
			t.Fatalf("after the disk had room: %v, want %v", got, want)
		}
	})
}

// TestLogRateLimit: a burst of error lines passes, then one a second, and
// the next line that passes says how many were dropped.
func TestLogRateLimit(t *testing.T) {
	now := time.Unix(1e9, 0)
	var buf bytes.Buffer
	p := &pebbleLogger{l: slog.New(slog.NewTextHandler(&buf, nil)), lim: newLimiter(func() time.Time { return now })}
	for i := range 1000 {
		p.Errorf("flush failed %d", i)
	}
	if n := strings.Count(buf.String(), "\n"); n != logBurst {
		t.Fatalf("%d lines from 1000 at once, want %d", n, logBurst)
	}
	now = now.Add(logInterval)
	buf.Reset()
	p.Errorf("flush failed again")
	if want := fmt.Sprintf("suppressed=%d", 1000-logBurst); !strings.Contains(buf.String(), want) {
		t.Fatalf("line after a second %q lacks %q", buf.String(), want)
	}
}

// refuseWrites fails every operation that would change the file system,
// as read-only media do.
type refuseWrites struct{}

func (refuseWrites) String() string { return "read-only" }

func (refuseWrites) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose {
		return &fs.PathError{Op: "open", Path: op.Path, Err: syscall.EROFS}
	}
	return nil
}

// TestOpenReadOnlyMedia pins issue 11 fault 7c: the offline list could not
// read a store on read-only media, because Pebble's directory lock creates
// a file. A read-only open now needs no write at all.
func TestOpenReadOnlyMedia(t *testing.T) {
	mem := vfs.NewMem()
	s := openMem(t, mem, 8)
	mustAlloc(t, s, id(1), id(3))
	if err := s.MarkRW(id(3)); err != nil {
		t.Fatal(err)
	}
	// Left as a crash leaves it: the log holds everything.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := open(dir, Options{FS: errorfs.Wrap(mem, refuseWrites{}), Logger: quiet}, true)
	if err != nil {
		t.Fatalf("read-only open on read-only media: %v", err)
	}
	defer ro.Close()
	want := map[uint64]Block{
		id(1): inFrame(id(1), 0),
		id(3): {ID: id(3), Loc: FrameLoc(1), Frame: 1, MarkedRW: true, Unclean: true},
	}
	if got := snapshot(ro); !maps.Equal(got, want) {
		t.Fatalf("read-only view %v, want %v", got, want)
	}
}

// TestWALCheckRotatedLogs: logs that Pebble rotated, recycled (a reused
// file holds an older log's chunks past the new log's end) or left behind
// never look damaged to checkWALs, after a crash or a clean stop.
func TestWALCheckRotatedLogs(t *testing.T) {
	live := t.TempDir()
	s, err := Open(live, Options{UUID: testUUID, Frames: 2048, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for range 6 {
		for range 150 {
			n++
			mustAlloc(t, s, id(n))
		}
		if err := s.db.Flush(); err != nil { // rotates the log
			t.Fatal(err)
		}
	}
	for range 40 {
		n++
		mustAlloc(t, s, id(n))
	}
	logs, _ := filepath.Glob(filepath.Join(live, "*.log"))
	crashed := crashImage(t, live)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{crashed, live} {
		s, err := Open(d, Options{UUID: testUUID, Frames: 2048, Logger: quiet})
		if err != nil {
			t.Fatalf("%d logs (%v): %v", len(logs), logs, err)
		}
		if st := s.Stats(); st.Blocks != n || st.Unplaced != 0 {
			t.Fatalf("reopened with %+v, want %d placed blocks", st, n)
		}
		s.Close()
	}
}
