package soft

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/verbstest"
)

// benchPipe keeps depth operations of n bytes in flight over loopback.
func benchPipe(b *testing.B, op verbs.Opcode, n, depth int) {
	p := newPair(b, verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{}, nil)
	tgt, _ := region(b, p.s.PD(), n, rw)
	loc, _ := region(b, p.c.PD(), n, verbs.AccessLocalWrite)
	wr := verbs.SendWR{Op: op, Local: verbs.SGEOf(loc, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()}
	verbstest.Pipe(testCtx(b), b, p.c, wr, depth)
}

func BenchmarkWrite2MiB(b *testing.B) { benchPipe(b, verbs.OpWrite, 2<<20, 4) }
func BenchmarkRead2MiB(b *testing.B)  { benchPipe(b, verbs.OpRead, 2<<20, 4) }

// BenchmarkWriteRead4KiB is one 4 KiB Write followed by a Read of it, to
// completion: the round-trip latency of a small persisted update.
func BenchmarkWriteRead4KiB(b *testing.B) {
	const n = 4096
	p := newPair(b, verbs.QPConfig{}, verbs.QPConfig{}, nil)
	tgt, _ := region(b, p.s.PD(), n, rw)
	src, _ := region(b, p.c.PD(), n, 0)
	sink, _ := region(b, p.c.PD(), n, verbs.AccessLocalWrite)
	w := verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(src, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()}
	r := verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(sink, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()}
	wcs := make([]verbs.WC, 2)
	ctx := testCtx(b)
	b.SetBytes(2 * n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		verbstest.RoundTrip(ctx, b, p.c, wcs, w, r)
	}
}
