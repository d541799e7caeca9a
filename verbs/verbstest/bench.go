package verbstest

import (
	"context"
	"testing"

	"github.com/brick-storage/brick/verbs"
)

// Pipe is the body of a throughput benchmark: it keeps depth copies of wr
// in flight on qp until b.N have completed, each numbered by its ID. The
// caller sizes wr.Local and sets qp's send depth to at least depth.
func Pipe(ctx context.Context, b *testing.B, qp verbs.QP, wr verbs.SendWR, depth int) {
	wcs := make([]verbs.WC, depth)
	b.SetBytes(int64(wr.Local.Length))
	b.ReportAllocs()
	b.ResetTimer()
	posted, done := 0, 0
	for done < b.N {
		for posted < b.N && posted-done < depth {
			wr.ID = uint64(posted)
			if err := qp.PostSend(wr); err != nil {
				b.Fatal(err)
			}
			posted++
		}
		got, err := qp.SendCQ().Wait(ctx, wcs)
		if err != nil {
			b.Fatal(err)
		}
		checkWCs(b, wcs[:got])
		done += got
	}
}

// RoundTrip posts wrs on qp and waits for all their completions: one
// iteration of a latency benchmark. wcs must hold len(wrs) completions.
func RoundTrip(ctx context.Context, b *testing.B, qp verbs.QP, wcs []verbs.WC, wrs ...verbs.SendWR) {
	for _, wr := range wrs {
		if err := qp.PostSend(wr); err != nil {
			b.Fatal(err)
		}
	}
	for got := 0; got < len(wrs); {
		m, err := qp.SendCQ().Wait(ctx, wcs[got:len(wrs)])
		if err != nil {
			b.Fatal(err)
		}
		checkWCs(b, wcs[got:got+m])
		got += m
	}
}

func checkWCs(b *testing.B, wcs []verbs.WC) {
	for _, wc := range wcs {
		if wc.Status != verbs.StatusSuccess {
			b.Fatal(wc.Err())
		}
	}
}
