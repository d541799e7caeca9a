package brick

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/brick-storage/brick/pmem"
	"github.com/brick-storage/brick/pmem/powerfail"
)

func TestIsZero(t *testing.T) {
	const n = 2<<20 + 100 // a frame and a tail shorter than a chunk
	for _, tt := range []struct {
		set  int // index of the one non-zero byte, or -1
		want bool
	}{
		{-1, true}, {0, false}, {4095, false}, {4096, false}, {n / 2, false}, {n - 100, false}, {n - 1, false},
	} {
		b := make([]byte, n)
		if tt.set >= 0 {
			b[tt.set] = 1
		}
		if got := isZero(b); got != tt.want {
			t.Errorf("byte %d set: isZero %v, want %v", tt.set, got, tt.want)
		}
	}
	if !isZero(nil) {
		t.Error("isZero(nil) = false")
	}
}

// BenchmarkIsZero: the scan the zeroer makes of every frame it zeroes.
func BenchmarkIsZero(b *testing.B) {
	for _, size := range []int{4 << 10, 2 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				if !isZero(buf) {
					b.Fatal("not zero")
				}
			}
		})
	}
}

// TestZeroFramesDurable: zeroFrames leaves every frame it is given zero in
// the persistence domain, whether the frames form one run (one Flush) or
// not, and leaves the others alone. Each frame first persists a pattern,
// then is overwritten with zeros that are never flushed: without the flush
// a crash would bring the pattern back.
func TestZeroFramesDurable(t *testing.T) {
	for _, tt := range []struct {
		frames []uint64
		spared []uint64
	}{
		{[]uint64{0, 1, 2, 3}, nil},
		{[]uint64{1, 2}, []uint64{0, 3}},
		{[]uint64{0, 2, 3}, []uint64{1}},
	} {
		t.Run(fmt.Sprint(tt.frames), func(t *testing.T) {
			r, err := powerfail.New(5*pmem.FrameSize, powerfail.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := range uint64(4) {
				f := r.Frame(i)
				f[100] = 0x5a
				if err := r.Stored(f); err != nil {
					t.Fatal(err)
				}
				if err := r.Flush(f); err != nil {
					t.Fatal(err)
				}
				if slices.Contains(tt.frames, i) {
					f[100] = 0 // stored, never flushed
					if err := r.Stored(f); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := &Server{region: r}
			if err := s.zeroFrames(tt.frames); err != nil {
				t.Fatal(err)
			}
			c := r.Crash()
			defer c.Close()
			for _, i := range tt.frames {
				if !isZero(c.Frame(i)) {
					t.Errorf("frame %d is not zero after a crash", i)
				}
			}
			for _, i := range tt.spared {
				if c.Frame(i)[100] != 0x5a {
					t.Errorf("frame %d, not given, lost its bytes", i)
				}
			}
		})
	}
}

// TestZeroFramesFile: on a file image zeroFrames zeroes the frames it is
// given, by their extents while no hardware session was seen and by stores
// after one, and leaves the other frames alone; the file agrees.
func TestZeroFramesFile(t *testing.T) {
	for _, hardware := range []bool{false, true} {
		t.Run(fmt.Sprintf("hardware=%v", hardware), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pmem.img")
			r, err := pmem.OpenFile(path, pmem.FileOptions{Size: 5 * pmem.FrameSize})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for i := range r.Frames() {
				f := r.Frame(i)
				f[100], f[pmem.FrameSize-1] = byte(i+1), byte(i+1)
				if err := r.Flush(f); err != nil {
					t.Fatal(err)
				}
			}
			s := &Server{region: r}
			s.zero.pin.hardware = hardware
			zeroed := []uint64{0, 1, 3}
			if err := s.zeroFrames(zeroed); err != nil {
				t.Fatal(err)
			}
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range r.Frames() {
				want := byte(i + 1)
				if slices.Contains(zeroed, i) {
					want = 0
				}
				inFile := file[(i+1)*pmem.FrameSize:][:pmem.FrameSize]
				if f := r.Frame(i); f[100] != want || f[pmem.FrameSize-1] != want || inFile[100] != want {
					t.Errorf("frame %d: mapping %d/%d, file %d; want %d", i, f[100], f[pmem.FrameSize-1], inFile[100], want)
				}
			}
		})
	}
}
