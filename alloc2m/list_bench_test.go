package alloc2m_test

import (
	"testing"

	"github.com/brick-storage/brick/alloc2m"
	"github.com/brick-storage/brick/protocol"
)

// BenchmarkListMillion is the brick's side of `brickctl list` of a whole
// brick: every page a client asks for, coalesced as the client does, over
// a million blocks in one run and over 500,000 blocks every other one
// (500,000 extents, the most pages). The wire and the client are not in it.
func BenchmarkListMillion(b *testing.B) {
	for _, c := range []struct {
		name              string
		n, stride, extent uint64
	}{{"contiguous", 1_000_000, 1, 1}, {"alternate", 500_000, 2, 500_000}} {
		b.Run(c.name, func(b *testing.B) {
			st := alloc2m.OpenGenerated(b, c.n, c.stride)
			for b.Loop() {
				var extents, pages uint64
				first := uint64(0)
				for {
					r := st.List(first, alloc2m.MaxID, protocol.MaxExtentsPerList, nil)
					extents += uint64(len(r.Extents))
					pages++
					if !r.More {
						break
					}
					first = r.Next
				}
				if extents != c.extent {
					b.Fatalf("listed %d extents, want %d", extents, c.extent)
				}
				b.ReportMetric(float64(pages), "pages")
			}
		})
	}
}
