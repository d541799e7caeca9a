package powerfail

import (
	"testing"
	"unsafe"

	"github.com/brick-storage/brick/pmem"
)

// TestDataSpan: the simulator's data frames are one slice, in order, as
// pmem's backends are (pmem's TestDataSpan), so the brick's one
// registration of them covers every frame.
func TestDataSpan(t *testing.T) {
	r, err := New(8*pmem.FrameSize, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	span := r.DataSpan()
	if uint64(len(span)) != r.Frames()*pmem.FrameSize || cap(span) != len(span) {
		t.Fatalf("span of %d bytes (cap %d) for %d frames", len(span), cap(span), r.Frames())
	}
	for i := range r.Frames() {
		if unsafe.SliceData(r.Frame(i)) != &span[i*pmem.FrameSize] {
			t.Fatalf("frame %d is not at offset %d of the span", i, i*pmem.FrameSize)
		}
	}
}
