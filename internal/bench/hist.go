// Package bench measures and reports what `brickctl bench` runs: latency
// histograms, a closed-loop runner bounded by time, and the report as a
// table, JSON, or a self-contained HTML page with inline SVG charts.
//
// It knows nothing about bricks: brickctl supplies the operations. Keeping
// the measuring apart from the thing measured keeps both testable.
package bench

import (
	"math/bits"
	"time"
)

// Histogram buckets are log-linear: each power of two from 2^minExp ns up
// to 2^maxExp ns is split into subBuckets equal parts, so a bucket is at
// most 1/subBuckets (12.5%) wide relative to its lower bound — the
// resolution of every quantile reported. Bucket 0 holds everything below
// 2^minExp ns, the last everything from 2^(maxExp+1) ns.
const (
	subBits    = 3
	subBuckets = 1 << subBits
	minExp     = 7  // 128 ns
	maxExp     = 36 // 68.7 s
	nBuckets   = (maxExp-minExp+1)*subBuckets + 2
)

// Histogram records durations. The zero value is ready; it is not safe for
// concurrent use (give each worker its own and Merge them).
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

func bucketOf(d time.Duration) int {
	if d < 1<<minExp {
		return 0
	}
	e := bits.Len64(uint64(d)) - 1
	if e > maxExp {
		return nBuckets - 1
	}
	sub := int(uint64(d)>>(e-subBits)) & (subBuckets - 1)
	return 1 + (e-minExp)*subBuckets + sub
}

// bounds returns bucket i's range [lo, hi).
func bounds(i int) (lo, hi time.Duration) {
	switch {
	case i == 0:
		return 0, 1 << minExp
	case i == nBuckets-1:
		return 1 << (maxExp + 1), 1<<63 - 1
	}
	e := (i-1)/subBuckets + minExp
	sub := (i - 1) % subBuckets
	lo = time.Duration(subBuckets+sub) << (e - subBits)
	hi = time.Duration(subBuckets+sub+1) << (e - subBits)
	return lo, hi
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += d
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
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

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q ≤ 1), clamped to the observed range: an overestimate by at most
// one bucket's width.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			_, hi := bounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Bucket is one non-empty histogram bucket.
type Bucket struct {
	Lo    time.Duration `json:"lo_ns"`
	Hi    time.Duration `json:"hi_ns"`
	Count uint64        `json:"count"`
}

// Buckets returns the non-empty buckets in order.
func (h *Histogram) Buckets() []Bucket {
	var out []Bucket
	for i, c := range h.counts {
		if c > 0 {
			lo, hi := bounds(i)
			out = append(out, Bucket{Lo: lo, Hi: hi, Count: c})
		}
	}
	return out
}
