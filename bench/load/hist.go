package main

import (
	"math"
	"math/bits"
	"time"
)

// Histogram layout: values (nanoseconds) below 2*subCount are counted exactly;
// above that, every power-of-two range is split into subCount equal buckets,
// so a bucket is at most 1/subCount of its lower bound wide. Reporting the
// bucket midpoint bounds the relative error by 1/(2*subCount) ≈ 0.4%.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits) * subCount // covers every non-negative int64
)

// hist is a log-linear latency histogram (HDR-like) with a fixed size of
// numBuckets counters. Recording is a few arithmetic operations and one
// increment. The zero value is not ready: use newHist. A hist is not safe for
// concurrent use; give each worker its own and merge them at the end.
type hist struct {
	counts   []uint64
	n        uint64
	sum      float64 // nanoseconds, for the mean
	min, max int64
}

func newHist() *hist {
	return &hist{counts: make([]uint64, numBuckets), min: math.MaxInt64}
}

// bucketOf returns the bucket index of v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < 2*subCount {
		return int(u)
	}
	shift := bits.Len64(u) - subBits - 1
	return shift*subCount + int(u>>uint(shift))
}

// bucketRange returns the smallest value of bucket i and its width: the bucket
// holds the integers [low, low+width).
func bucketRange(i int) (low, width int64) {
	if i < 2*subCount {
		return int64(i), 1
	}
	shift := i/subCount - 1
	top := int64(i - shift*subCount) // in [subCount, 2*subCount)
	return top << uint(shift), 1 << uint(shift)
}

// Record adds one duration. Negative durations count as zero.
func (h *hist) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds the contents of o to h.
func (h *hist) Merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.n > 0 {
		h.min = min(h.min, o.min)
		h.max = max(h.max, o.max)
	}
}

// Count returns the number of recorded values.
func (h *hist) Count() uint64 { return h.n }

// Max returns the largest recorded value exactly, 0 when empty.
func (h *hist) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean returns the mean of the recorded values, 0 when empty.
func (h *hist) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 <= q <= 1) by the nearest-rank method:
// the smallest recorded value such that at least q*n values are <= it,
// approximated by the midpoint of its bucket (clamped to the exact min and
// max), so within 0.4% of the exact answer. q <= 0 gives the minimum, q >= 1
// the maximum. An empty histogram gives 0.
func (h *hist) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			low, width := bucketRange(i)
			v := low + (width-1)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max) // unreachable: cum reaches n
}
