// Package bench holds the network benchmarks behind `make bench-net`
// (scripts/bench-net.sh): the software RNIC's RDMA Write and Read
// throughput and small-operation latency on loopback, beside a raw TCP
// ping-pong measured in the same run. They are benchmarks only; make test
// compiles them and runs nothing.
package bench

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/brick-storage/brick/verbs"
	"github.com/brick-storage/brick/verbs/soft"
	"github.com/brick-storage/brick/verbs/verbstest"
)

const rw = verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead

// conn is one software RNIC connection over loopback with a target region
// at the passive side and a local region at the active side.
type conn struct {
	c, s     verbs.QP
	tgt, loc verbs.MR
}

func connect(b *testing.B, depth, size int) *conn {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := soft.New()
	ln, err := p.Listen(ctx, "127.0.0.1:0", verbs.ListenConfig{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	ch := make(chan verbs.QP, 1)
	go func() {
		cr, err := ln.Accept(ctx)
		if err != nil {
			ch <- nil
			return
		}
		q, _ := cr.Accept(verbs.QPConfig{}, nil, nil)
		ch <- q
	}()
	c, err := p.Dial(ctx, ln.Addr(), verbs.QPConfig{SendDepth: depth}, nil)
	s := <-ch
	if err != nil || s == nil {
		b.Fatalf("connect: %v", err)
	}
	b.Cleanup(func() { c.Close(); s.Close() })
	return &conn{c: c, s: s, tgt: register(b, s.PD(), size), loc: register(b, c.PD(), size)}
}

// register allocates size bytes outside the Go heap and registers them.
func register(b *testing.B, pd verbs.PD, size int) verbs.MR {
	b.Helper()
	buf, err := verbs.AllocMemory(size)
	if err != nil {
		b.Fatal(err)
	}
	mr, err := pd.Register(buf, rw)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mr.Deregister(); verbs.FreeMemory(buf) })
	return mr
}

// pipe keeps depth operations of n bytes in flight.
func pipe(b *testing.B, op verbs.Opcode, n, depth int) {
	k := connect(b, depth, n)
	wr := verbs.SendWR{Op: op, Local: verbs.SGEOf(k.loc, 0, n), RKey: k.tgt.RKey(), Remote: k.tgt.Addr()}
	verbstest.Pipe(context.Background(), b, k.c, wr, depth)
}

func BenchmarkSoftWrite2MiBQD4(b *testing.B)  { pipe(b, verbs.OpWrite, 2<<20, 4) }
func BenchmarkSoftRead2MiBQD4(b *testing.B)   { pipe(b, verbs.OpRead, 2<<20, 4) }
func BenchmarkSoftWrite2MiBQD16(b *testing.B) { pipe(b, verbs.OpWrite, 2<<20, 16) }
func BenchmarkSoftRead2MiBQD16(b *testing.B)  { pipe(b, verbs.OpRead, 2<<20, 16) }

// timeRoundTrips runs op b.N times, each a round trip of bytes, and
// reports the p50 and p99 of their durations.
func timeRoundTrips(b *testing.B, bytes int64, op func()) {
	rtts := make([]time.Duration, 0, 1<<16)
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		op()
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, rtts)
}

// reportLatency reports the p50 and p99 of per-iteration round trips.
func reportLatency(b *testing.B, rtts []time.Duration) {
	slices.Sort(rtts)
	if len(rtts) == 0 {
		return
	}
	b.ReportMetric(float64(rtts[len(rtts)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// latency runs one n-byte operation at a time to completion and reports
// its p50 and p99: the figures issue 12 compares with the TCP ping-pong.
func latency(b *testing.B, op verbs.Opcode, n int) {
	k := connect(b, 1, n)
	wr := verbs.SendWR{Op: op, Local: verbs.SGEOf(k.loc, 0, n), RKey: k.tgt.RKey(), Remote: k.tgt.Addr()}
	wcs := make([]verbs.WC, 1)
	ctx := context.Background()
	timeRoundTrips(b, int64(n), func() { verbstest.RoundTrip(ctx, b, k.c, wcs, wr) })
}

func BenchmarkSoftWrite4KiBQD1(b *testing.B) { latency(b, verbs.OpWrite, 4096) }
func BenchmarkSoftRead4KiBQD1(b *testing.B)  { latency(b, verbs.OpRead, 4096) }

// BenchmarkSoftWriteRead4KiB is a 4 KiB RDMA Write followed by a Read of
// it, both to completion: the round trip of a small update and its proof.
func BenchmarkSoftWriteRead4KiB(b *testing.B) {
	const n = 4096
	k := connect(b, 2, 2*n)
	w := verbs.SendWR{Op: verbs.OpWrite, Local: verbs.SGEOf(k.loc, 0, n), RKey: k.tgt.RKey(), Remote: k.tgt.Addr()}
	r := verbs.SendWR{Op: verbs.OpRead, Local: verbs.SGEOf(k.loc, n, n), RKey: k.tgt.RKey(), Remote: k.tgt.Addr()}
	wcs := make([]verbs.WC, 2)
	ctx := context.Background()
	timeRoundTrips(b, 2*n, func() { verbstest.RoundTrip(ctx, b, k.c, wcs, w, r) })
}

// BenchmarkTCPPingPong4KiB is the baseline: 4 KiB over a loopback TCP
// connection and 4 KiB back, Nagle off, as the software RNIC's sockets.
func BenchmarkTCPPingPong4KiB(b *testing.B) {
	const n = 4096
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	echoed := make(chan error, 1)
	go func() {
		s, err := ln.Accept()
		if err != nil {
			echoed <- err
			return
		}
		defer s.Close()
		s.(*net.TCPConn).SetNoDelay(true)
		buf := make([]byte, n)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				echoed <- nil
				return
			}
			if _, err := s.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c.(*net.TCPConn).SetNoDelay(true)
	buf := make([]byte, n)
	timeRoundTrips(b, 2*n, func() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	})
	c.Close()
	if err := <-echoed; err != nil {
		b.Fatal(err)
	}
}
