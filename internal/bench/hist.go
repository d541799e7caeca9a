// Package bench measures and reports what `brickctl bench` and `make bench`
// run: latency histograms, a closed-loop runner bounded by time, the report
// as a table, JSON, or a self-contained HTML page with inline SVG charts,
// and the goals table of `make bench` (goals.go).
//
// It knows nothing about bricks: brickctl supplies the operations. Keeping
// the measuring apart from the thing measured keeps both testable.
package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The recorded range and resolution: 100 ns to 100 s with 3 significant
// digits (a quantile is within 0.1% of the value recorded). Slower or
// faster observations are clamped to the range; min, max and mean stay
// exact.
const (
	lowest  = int64(100 * time.Nanosecond)
	highest = int64(100 * time.Second)
	sigFigs = 3
	// chartSub: Buckets groups the recording into this many buckets per
	// power of two, enough for a chart and small enough for a JSON report.
	chartSub = 8
)

// Histogram records durations in an HdrHistogram. The zero value is ready;
// it is not safe for concurrent use (give each worker its own and Merge
// them).
type Histogram struct {
	h        *hdrhistogram.Histogram
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

func (h *Histogram) init() {
	if h.h == nil {
		h.h = hdrhistogram.New(lowest, highest, sigFigs)
	}
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	h.init()
	d = max(d, 0)
	_ = h.h.RecordValue(min(max(int64(d), lowest), highest)) // clamped: never out of range
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	h.init()
	h.h.Merge(o.h)
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Mean is the average observation.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the q-quantile (0 < q ≤ 1) to three significant digits,
// clamped to the observed range.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	v := time.Duration(h.h.ValueAtQuantile(q * 100))
	return min(max(v, h.min), h.max)
}

// Bucket is one non-empty histogram bucket.
type Bucket struct {
	Lo    time.Duration `json:"lo_ns"`
	Hi    time.Duration `json:"hi_ns"`
	Count uint64        `json:"count"`
}

// Buckets returns the non-empty buckets in order, log-linear: each power
// of two split into chartSub equal parts (each at most 12.5% wide).
func (h *Histogram) Buckets() []Bucket {
	if h.n == 0 {
		return nil
	}
	var out []Bucket
	for _, bar := range h.h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		lo, hi := chartBounds(time.Duration(bar.From))
		if k := len(out) - 1; k >= 0 && out[k].Lo == lo {
			out[k].Count += uint64(bar.Count)
			continue
		}
		out = append(out, Bucket{Lo: lo, Hi: hi, Count: uint64(bar.Count)})
	}
	return out
}

// chartBounds is the chart bucket [lo, hi) holding d.
func chartBounds(d time.Duration) (lo, hi time.Duration) {
	if d < 1 {
		return 0, 1
	}
	e := math.Floor(math.Log2(float64(d)))
	base := math.Exp2(e)
	w := base / chartSub
	k := math.Floor((float64(d) - base) / w)
	lo = time.Duration(base + k*w)
	hi = time.Duration(base + (k+1)*w)
	if hi <= lo {
		hi = lo + 1
	}
	return lo, hi
}
