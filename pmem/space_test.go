//go:build linux

package pmem

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/brick-storage/brick/internal/testfs"
)

// writeSparseV1 leaves at path what an older brickd created: a sparse image
// of size bytes with a version-1 superblock, and returns its header.
func writeSparseV1(t *testing.T, path string, size int64) []byte {
	t.Helper()
	frames, _ := checkFrameCount(size)
	hdr := make([]byte, 4096)
	sb := superblock{version: superblockV1, frameSize: FrameSize, frames: frames, uuid: [16]byte{0xb1, 0xc4}}
	sb.encode(hdr)
	if err := os.WriteFile(path, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	return hdr
}

func TestImageDiskSpace(t *testing.T) {
	const fsSize = 10 << 20
	tests := []struct {
		name string
		old  bool  // a sparse version-1 image is there already
		size int64 // image size
		want error // nil: opens allocated
	}{
		{"new image fits", false, 4 * FrameSize, nil},
		{"new image too large", false, 8 * FrameSize, ErrNoSpace},
		{"old sparse image fits", true, 4 * FrameSize, nil},
		{"old sparse image too large", true, 8 * FrameSize, ErrNoSpace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testfs.Small(t, fsSize)
			path := filepath.Join(dir, "pmem.img")
			var hdr []byte
			opts := FileOptions{Size: tt.size}
			if tt.old {
				hdr = writeSparseV1(t, path, tt.size)
				opts.Size = 0
			}
			r, err := OpenFile(path, opts)
			if tt.want != nil {
				if err == nil {
					r.Close()
					t.Fatal("OpenFile succeeded on a file system that cannot hold the image")
				}
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "free space there") {
					t.Fatalf("OpenFile: %v; want %v saying what to do", err, tt.want)
				}
				b, rerr := os.ReadFile(path)
				switch {
				case !tt.old && !errors.Is(rerr, os.ErrNotExist):
					t.Fatalf("a refused new image was left behind (%v)", rerr)
				case tt.old && (rerr != nil || int64(len(b)) != tt.size || !bytes.Equal(b[:len(hdr)], hdr)):
					t.Fatalf("the refused old image changed (%v)", rerr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenFile: %v", err)
			}
			defer r.Close()
			var st unix.Stat_t
			if err := unix.Stat(path, &st); err != nil {
				t.Fatal(err)
			}
			if st.Blocks*512 < tt.size {
				t.Fatalf("%d of %d bytes allocated", st.Blocks*512, tt.size)
			}
			if tt.old && r.UUID() != ([16]byte{0xb1, 0xc4}) {
				t.Fatalf("the old image's UUID changed to %x", r.UUID())
			}
			// With the file system full, every page of every frame can
			// still be written: a sparse image would die of SIGBUS here.
			testfs.Fill(t, dir)
			for i := range r.Frames() {
				f := r.Frame(i)
				for off := 0; off < len(f); off += 4096 {
					f[off] = 0xa5
				}
				if err := r.Flush(f); err != nil {
					t.Fatalf("flush frame %d: %v", i, err)
				}
			}
		})
	}
}

// TestSparseImage: with Sparse, an image far larger than its file system
// is created and reopened without disk space reserved; without it, the
// same image is refused for want of space.
func TestSparseImage(t *testing.T) {
	const fsSize, size = 10 << 20, 64 * FrameSize // 128 MiB image, 10 MiB file system
	dir := testfs.Small(t, fsSize)
	path := filepath.Join(dir, "pmem.img")
	allocated := func() int64 {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		return st.Blocks * 512
	}
	steps := []struct {
		name string
		opts FileOptions
		want error
	}{
		{"create sparse", FileOptions{Size: size, Sparse: true}, nil},
		{"reopen sparse", FileOptions{Existing: true, Sparse: true}, nil},
		{"reopen reserving", FileOptions{Existing: true}, ErrNoSpace},
	}
	for _, s := range steps {
		r, err := OpenFile(path, s.opts)
		if !errors.Is(err, s.want) {
			t.Fatalf("%s: OpenFile: %v, want %v", s.name, err, s.want)
		}
		if err != nil {
			continue
		}
		if r.Frames() != size/FrameSize-1 {
			t.Errorf("%s: %d frames, want %d", s.name, r.Frames(), size/FrameSize-1)
		}
		r.Close()
		if a := allocated(); a >= fsSize {
			t.Fatalf("%s: %d bytes of the image are allocated, want it sparse", s.name, a)
		}
	}
}
