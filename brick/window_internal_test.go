package brick

import (
	"testing"
	"unsafe"

	"github.com/brick-storage/brick/pmem"
)

// framed is a Region whose frames are given slices.
type framed struct {
	pmem.Region
	frames [][]byte
}

func (f framed) Frames() uint64        { return uint64(len(f.frames)) }
func (f framed) Frame(i uint64) []byte { return f.frames[i] }

func TestFrameSpan(t *testing.T) {
	mem := make([]byte, 3*pmem.FrameSize)
	contiguous := framed{frames: [][]byte{mem[:pmem.FrameSize], mem[pmem.FrameSize : 2*pmem.FrameSize], mem[2*pmem.FrameSize:]}}
	gap := framed{frames: [][]byte{mem[:pmem.FrameSize], mem[2*pmem.FrameSize:]}}
	tests := []struct {
		name string
		r    pmem.Region
		ok   bool
	}{
		{"contiguous", contiguous, true},
		{"gap", gap, false},
		{"none", framed{}, false},
	}
	for _, tc := range tests {
		span, ok := frameSpan(tc.r)
		if ok != tc.ok {
			t.Fatalf("%s: ok %v", tc.name, ok)
		}
		if ok && (len(span) != len(mem) || unsafe.SliceData(span) != unsafe.SliceData(mem)) {
			t.Fatalf("%s: span of %d bytes", tc.name, len(span))
		}
	}
}
