package pmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/internal/imghdr"
)

const testSize = 8 * FrameSize // superblock + 7 data frames

func openTemp(t *testing.T, size int64) (Region, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pmem.img")
	r, err := OpenFile(path, FileOptions{Size: size})
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	return r, path
}

func TestFileFormatReopen(t *testing.T) {
	r, path := openTemp(t, testSize)
	if r.Kind() != KindFile || !r.Persistent() || r.Path() != path {
		t.Fatalf("kind %q persistent %v path %q", r.Kind(), r.Persistent(), r.Path())
	}
	if got := r.Frames(); got != 7 {
		t.Fatalf("Frames = %d, want 7", got)
	}
	id := r.UUID()
	if id == ([16]byte{}) {
		t.Fatal("zero UUID")
	}
	copy(r.Frame(6)[FrameSize-5:], "hello")
	if err := r.Flush(r.Frame(6)[FrameSize-5:]); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}

	// Reopen with size 0 (use the file's) and with the same size.
	for _, size := range []int64{0, testSize} {
		r2, err := OpenFile(path, FileOptions{Size: size})
		if err != nil {
			t.Fatalf("reopen size %d: %v", size, err)
		}
		if r2.UUID() != id {
			t.Fatalf("UUID changed: %x != %x", r2.UUID(), id)
		}
		if got := string(r2.Frame(6)[FrameSize-5:]); got != "hello" {
			t.Fatalf("data lost: %q", got)
		}
		if err := r2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFileAllocated: a new image has a disk block behind every byte, so
// no store through the mapping can fault for lack of space (SIGBUS).
func TestFileAllocated(t *testing.T) {
	const size = 64 << 20
	r, path := openTemp(t, size)
	defer r.Close()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Fatalf("size %d, want %d", st.Size, size)
	}
	if used := st.Blocks * 512; used < size {
		t.Fatalf("new %d-byte image has %d bytes allocated; want all of it", size, used)
	}
}

func TestFileOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	r, err := OpenFile(good, FileOptions{Size: testSize})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	// corrupt returns a copy of the good image with f applied to its header.
	corrupt := func(name string, f func(b []byte)) string {
		b := bytes.Clone(img)
		f(b)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reseal := func(b []byte) {
		imghdr.Seal(b)
	}

	tests := []struct {
		name string
		path string
		opts FileOptions
		want error
	}{
		{"magic", corrupt("magic.img", func(b []byte) { b[0] = 'X' }), FileOptions{}, imghdr.ErrBadMagic},
		{"checksum", corrupt("sum.img", func(b []byte) { b[imghdr.OffUUID] ^= 1 }), FileOptions{}, imghdr.ErrBadChecksum},
		{"version", corrupt("ver.img", func(b []byte) {
			binary.LittleEndian.PutUint32(b[imghdr.OffVersion:], 9)
			reseal(b)
		}), FileOptions{}, imghdr.ErrVersion},
		{"frame count", corrupt("count.img", func(b []byte) {
			binary.LittleEndian.PutUint64(b[imghdr.OffCount:], 99)
			reseal(b)
		}), FileOptions{}, imghdr.ErrGeometry},
		{"frame size", corrupt("fsize.img", func(b []byte) {
			binary.LittleEndian.PutUint32(b[imghdr.OffUnit:], 4096)
			reseal(b)
		}), FileOptions{}, imghdr.ErrGeometry},
		{"truncated image", corrupt("short.img", func(b []byte) {}), FileOptions{Size: 4 * FrameSize}, imghdr.ErrGeometry},
		{"size mismatch", good, FileOptions{Size: 16 * FrameSize}, imghdr.ErrGeometry},
		{"unaligned size", filepath.Join(dir, "new1.img"), FileOptions{Size: 3*FrameSize + 1}, ErrInvalidSize},
		{"one frame", filepath.Join(dir, "new2.img"), FileOptions{Size: FrameSize}, ErrInvalidSize},
		{"new without size", filepath.Join(dir, "new3.img"), FileOptions{}, ErrInvalidSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := OpenFile(tt.path, tt.opts)
			if err == nil {
				r.Close()
				t.Fatal("OpenFile succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	// A file whose size is not a frame multiple is refused too.
	odd := filepath.Join(dir, "odd.img")
	if err := os.WriteFile(odd, make([]byte, FrameSize+100), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(odd, FileOptions{}); !errors.Is(err, imghdr.ErrGeometry) {
		t.Fatalf("odd size: %v, want imghdr.ErrGeometry", err)
	}
}

func TestFileLock(t *testing.T) {
	r, path := openTemp(t, testSize)
	_, err := OpenFile(path, FileOptions{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if want := "pmem image " + path + " is in use by another process"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("message %q lacks %q", err, want)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenFile(path, FileOptions{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	r2.Close()
}

func TestFileFlushZero(t *testing.T) {
	r, path := openTemp(t, testSize)
	defer r.Close()
	for i := range r.Frames() {
		f := r.Frame(i)
		for j := range f {
			f[j] = byte(i + 1)
		}
		if err := r.Flush(f); err != nil {
			t.Fatalf("Flush frame %d: %v", i, err)
		}
	}
	// Unaligned sub-slices flush the covering pages.
	if err := r.Flush(r.Frame(3)[4095:4097]); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(make([]byte, 10)); !errors.Is(err, ErrRange) {
		t.Fatalf("Flush outside region: %v, want ErrRange", err)
	}
	var before unix.Stat_t
	if err := unix.Stat(path, &before); err != nil {
		t.Fatal(err)
	}
	if err := zeroFrame(r, 2); err != nil {
		t.Fatal(err)
	}
	for i := range r.Frames() {
		f := r.Frame(i)
		want := byte(i + 1)
		if i == 2 {
			want = 0
		}
		if f[0] != want || f[FrameSize/2] != want || f[FrameSize-1] != want {
			t.Fatalf("frame %d: got %d/%d/%d, want %d", i, f[0], f[FrameSize/2], f[FrameSize-1], want)
		}
	}
	// The file agrees with the mapping.
	b := make([]byte, FrameSize)
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if _, err := fd.ReadAt(b, 3*FrameSize); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, make([]byte, FrameSize)) {
		t.Fatal("zeroed frame not zero in the file")
	}
	var after unix.Stat_t
	if err := unix.Stat(path, &after); err != nil {
		t.Fatal(err)
	}
	// Zeroing keeps the frame's disk blocks: a hole would fault (SIGBUS)
	// on a full file system at the next store.
	if after.Blocks < before.Blocks {
		t.Errorf("zeroing released disk blocks: %d → %d (512-byte blocks)", before.Blocks, after.Blocks)
	}
}

func TestFramePanicsOutOfRange(t *testing.T) {
	r, err := NewAnonymous(testSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer func() {
		if recover() == nil {
			t.Fatal("Frame(Frames()) did not panic")
		}
	}()
	r.Frame(r.Frames())
}

func TestAnonymous(t *testing.T) {
	r, err := NewAnonymous(testSize)
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind() != KindAnonymous || r.Persistent() || r.Path() != "" || r.Frames() != 7 {
		t.Fatalf("kind %q persistent %v path %q frames %d", r.Kind(), r.Persistent(), r.Path(), r.Frames())
	}
	if r.UUID() == ([16]byte{}) {
		t.Fatal("zero UUID")
	}
	f := r.Frame(0)
	copy(f, "data")
	if err := r.Flush(f[:4]); err != nil {
		t.Fatal(err)
	}
	if err := zeroFrame(r, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Frame(0)[:4], make([]byte, 4)) {
		t.Fatal("zeroing left data behind")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewAnonymous(FrameSize); !errors.Is(err, ErrInvalidSize) {
		t.Fatalf("NewAnonymous(one frame) = %v, want ErrInvalidSize", err)
	}
}

// zeroFrame clears data frame i and makes the zeroes durable, as the brick
// does before it hands a frame out.
func zeroFrame(r Region, i uint64) error {
	f := r.Frame(i)
	clear(f)
	return r.Flush(f)
}
