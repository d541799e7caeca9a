package soft

import (
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// benchPipe keeps depth operations of n bytes in flight over loopback.
func benchPipe(b *testing.B, op verbs.Opcode, n, depth int) {
	p := newPair(b, verbs.QPConfig{SendDepth: depth}, verbs.QPConfig{}, nil)
	tgt, _ := region(b, p.s.PD(), n, rw)
	loc, _ := region(b, p.c.PD(), n, verbs.AccessLocalWrite)
	wr := verbs.SendWR{Op: op, Local: verbs.SGEOf(loc, 0, n), RKey: tgt.RKey(), Remote: tgt.Addr()}
	wcs := make([]verbs.WC, depth)
	ctx := testCtx(b)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	posted, done := 0, 0
	for done < b.N {
		for posted < b.N && posted-done < depth {
			wr.ID = uint64(posted)
			if err := p.c.PostSend(wr); err != nil {
				b.Fatal(err)
			}
			posted++
		}
		k, err := p.c.SendCQ().Wait(ctx, wcs)
		if err != nil {
			b.Fatal(err)
		}
		for _, wc := range wcs[:k] {
			if wc.Status != verbs.StatusSuccess {
				b.Fatal(wc.Err())
			}
		}
		done += k
	}
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
		if err := p.c.PostSend(w); err != nil {
			b.Fatal(err)
		}
		if err := p.c.PostSend(r); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < 2; {
			k, err := p.c.SendCQ().Wait(ctx, wcs[got:])
			if err != nil {
				b.Fatal(err)
			}
			got += k
		}
	}
}
