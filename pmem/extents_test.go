//go:build linux

package pmem

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"
)

// TestZeroExtents: a file image zeroes frames by their extents; after a
// Flush over the run, or one SyncExtents for frames apart, the mapping and
// the file read zero there and the other frames keep their bytes. A frame
// past the end is ErrRange.
func TestZeroExtents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		zero   []uint64
		commit func(r Region, ez ExtentZeroer) error
	}{
		{"flush over the run", []uint64{1, 2}, func(r Region, _ ExtentZeroer) error {
			return r.Flush(unsafe.Slice(unsafe.SliceData(r.Frame(1)), 2*FrameSize)) // frames are adjacent in a file mapping
		}},
		{"one sync for frames apart", []uint64{1, 3}, func(_ Region, ez ExtentZeroer) error {
			return ez.SyncExtents()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { testZeroExtents(t, tc.zero, tc.commit) })
	}
}

func testZeroExtents(t *testing.T, zero []uint64, commit func(Region, ExtentZeroer) error) {
	path := filepath.Join(t.TempDir(), "pmem.img")
	r, err := OpenFile(path, FileOptions{Size: 5 * FrameSize})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ez, ok := r.(ExtentZeroer)
	if !ok {
		t.Fatal("a file region is not an ExtentZeroer")
	}
	for i := range r.Frames() {
		f := r.Frame(i)
		for j := range f {
			f[j] = byte(i + 1)
		}
		if err := r.Flush(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range zero {
		ok, err := ez.ZeroExtents(i)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Skip("the file system has no FALLOC_FL_ZERO_RANGE")
		}
	}
	if err := commit(r, ez); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Frames() {
		want := bytes.Repeat([]byte{byte(i + 1)}, FrameSize)
		if slices.Contains(zero, i) {
			want = make([]byte, FrameSize)
		}
		if !bytes.Equal(r.Frame(i), want) {
			t.Errorf("frame %d in the mapping: got %d…, want %d…", i, r.Frame(i)[0], want[0])
		}
		if got := file[(i+1)*FrameSize:][:FrameSize]; !bytes.Equal(got, want) {
			t.Errorf("frame %d in the file: got %d…, want %d…", i, got[0], want[0])
		}
	}
	if _, err := ez.ZeroExtents(r.Frames()); !errors.Is(err, ErrRange) {
		t.Fatalf("ZeroExtents past the end: %v, want ErrRange", err)
	}
}
