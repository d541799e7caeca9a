package bench

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brick-storage/brick/internal/leaktest"
)

func TestMain(m *testing.M) { os.Exit(leaktest.Main(m)) }

// TestBuckets: chart buckets are ordered, disjoint, at most 12.5% wide,
// and hold every observation.
func TestBuckets(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		h.Record(time.Duration(r.Int64N(int64(200 * time.Millisecond))))
	}
	var n uint64
	bs := h.Buckets()
	for i, b := range bs {
		n += b.Count
		if b.Lo >= b.Hi || (b.Lo > 0 && float64(b.Hi-b.Lo)/float64(b.Lo) > 1.0/chartSub+1e-9) {
			t.Fatalf("bucket %d [%d,%d) empty or too wide", i, b.Lo, b.Hi)
		}
		if i > 0 && bs[i-1].Hi > b.Lo {
			t.Fatalf("bucket %d starts at %d before bucket %d ends at %d", i, b.Lo, i-1, bs[i-1].Hi)
		}
	}
	if n != h.Count() {
		t.Fatalf("buckets hold %d observations, recorded %d", n, h.Count())
	}
}

func TestQuantiles(t *testing.T) {
	var h Histogram
	// 1..1000 µs, uniformly.
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}, {1, 1000 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.001 {
			t.Errorf("q%.2f = %v, want [%v, +0.1%%]", tc.q, got, tc.want)
		}
	}
	if h.Max() != time.Millisecond || h.Count() != 1000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	var m Histogram
	m.Merge(&h)
	m.Merge(&h)
	if m.Count() != 2000 || m.Quantile(0.5) != h.Quantile(0.5) || m.Mean() != h.Mean() {
		t.Errorf("merge: count %d p50 %v mean %v", m.Count(), m.Quantile(0.5), m.Mean())
	}
}

func TestRunStopsOnDeadlineAndError(t *testing.T) {
	ops := make([]Op, 3)
	for i := range ops {
		ops[i] = func(context.Context) (int, error) { time.Sleep(100 * time.Microsecond); return 10, nil }
	}
	ticks := 0
	m := Run(context.Background(), 50*time.Millisecond, ops, 10*time.Millisecond, func(Live) { ticks++ })
	if m.Err != nil || m.Ops == 0 || m.Bytes != 10*m.Ops || m.Latency.Count() != m.Ops {
		t.Fatalf("measured %+v", m)
	}
	if m.Elapsed < 50*time.Millisecond || ticks == 0 {
		t.Errorf("elapsed %v ticks %d", m.Elapsed, ticks)
	}
	boom := errors.New("boom")
	n := 0
	m = Run(context.Background(), time.Minute, []Op{func(context.Context) (int, error) {
		if n++; n == 5 {
			return 0, boom
		}
		return 1, nil
	}}, 0, nil)
	if !errors.Is(m.Err, boom) || m.Ops != 4 || m.Errors != 1 {
		t.Fatalf("after an error: %+v", m)
	}
}

func TestParse(t *testing.T) {
	got, err := ParseSizes("4KiB, 64k,2MiB,512")
	if err != nil || !slices.Equal(got, []int{4096, 65536, 2 << 20, 512}) {
		t.Fatalf("ParseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "4XiB", "-1", "0", "KiB"} {
		if _, err := ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) accepted", bad)
		}
	}
	if c, err := ParseCounts("1,4,16"); err != nil || !slices.Equal(c, []int{1, 4, 16}) {
		t.Errorf("ParseCounts = %v, %v", c, err)
	}
	if _, err := ParseCounts("1,0"); err == nil {
		t.Error("ParseCounts accepted 0")
	}
}

// TestReport: the table, and an HTML page that is self-contained (no
// scripts, nothing loaded from elsewhere) with a histogram per case.
func TestReport(t *testing.T) {
	mk := func(c Case, lat ...time.Duration) Result {
		var m Measured
		m.Elapsed = time.Second
		for _, d := range lat {
			m.Latency.Record(d)
			m.Ops++
			m.Bytes += uint64(c.Size)
		}
		return NewResult(c, &m)
	}
	rep := &Report{Brick: "tcp://127.0.0.1:7470", Backend: "file (msync)", Methods: []string{"gpspm"}, Started: time.Unix(0, 0), Duration: 1,
		Results: []Result{
			mk(Case{Group: "control", Op: "alloc", QD: 1, Sessions: 1}, time.Millisecond, 2*time.Millisecond),
			mk(Case{Group: "write", Op: "write", Size: 4096, QD: 1, Sessions: 1}, 20*time.Microsecond, 25*time.Microsecond, 3*time.Millisecond),
			{Case: Case{Group: "write+persist", Op: "write+persist", Size: 4096, QD: 1, Sessions: 1}, Skipped: "volatile <memory>"},
		}}
	var tb bytes.Buffer
	if err := rep.Table(&tb); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OPS/S", "alloc", "4 KiB", "skipped: volatile"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
	var hb bytes.Buffer
	if err := rep.HTML(&hb); err != nil {
		t.Fatal(err)
	}
	page := hb.String()
	if n := strings.Count(page, `aria-label="latency histogram"`); n != 2 {
		t.Errorf("%d histograms, want 2", n)
	}
	for _, bad := range []string{"<script", "src=", "href=", "@import", "<memory>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}
