package pmem

import (
	"testing"
	"unsafe"
)

// TestDataSpan: every backend's data frames are one slice, in order, so
// one registration covers them all (the brick's memory windows rely on it).
// pmem/powerfail checks the simulator's the same way.
func TestDataSpan(t *testing.T) {
	open := map[string]func(t *testing.T) Region{
		"file": func(t *testing.T) Region { r, _ := openTemp(t, testSize); return r },
		"anonymous": func(t *testing.T) Region {
			r, err := NewAnonymous(testSize)
			if err != nil {
				t.Fatal(err)
			}
			return r
		},
	}
	for name, openRegion := range open {
		t.Run(name, func(t *testing.T) {
			r := openRegion(t)
			defer r.Close()
			span := r.DataSpan()
			if uint64(len(span)) != r.Frames()*FrameSize || cap(span) != len(span) {
				t.Fatalf("span of %d bytes (cap %d) for %d frames", len(span), cap(span), r.Frames())
			}
			for i := range r.Frames() {
				if unsafe.SliceData(r.Frame(i)) != &span[i*FrameSize] {
					t.Fatalf("frame %d is not at offset %d of the span", i, i*FrameSize)
				}
			}
		})
	}
}
