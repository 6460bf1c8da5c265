// Package histogram records latencies in a log-linear histogram that can be
// merged across workers and intervals without losing precision.
//
// Values below 128 ns are stored exactly. Above that, every power of two is
// cut into 128 buckets of equal width, so a bucket is at most 1/128 of its
// lower bound wide. Quantiles report the bucket's midpoint, which is within
// 1/256 (0.39 %) of every value in the bucket, clamped to the exact minimum
// and maximum, so the 0 and 1 quantiles are exact. Memory grows with the
// range of values seen, one 1 KiB chunk per power of two, and never with the
// number of values: 57 chunks at most.
package histogram

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits    = 7
	subBuckets = 1 << subBits // buckets per power of two

	// chunkCount covers values up to math.MaxInt64, which have 63 bits.
	chunkCount = 63 - subBits + 1

	// RelativeError is the largest relative difference between a recorded
	// value and the value a quantile reports for it.
	RelativeError = 1.0 / (2 * subBuckets)
)

// Histogram counts durations in nanoseconds. The zero value is empty and
// ready to use. A Histogram is not safe for concurrent use.
type Histogram struct {
	count  uint64
	sum    uint64 // saturates instead of wrapping
	min    uint64
	max    uint64
	chunks [chunkCount]*[subBuckets]uint64
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.RecordValue(uint64(d))
}

// RecordValue adds one value in nanoseconds. Values above math.MaxInt64
// count as math.MaxInt64, the largest time.Duration, so that Min, Max, Mean
// and Quantile can return every recorded value.
func (h *Histogram) RecordValue(v uint64) {
	v = min(v, math.MaxInt64)
	c, i := index(v)
	chunk := h.chunks[c]
	if chunk == nil {
		chunk = new([subBuckets]uint64)
		h.chunks[c] = chunk
	}
	chunk[i]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.count++
	h.sum = addSaturating(h.sum, v)
}

// Merge adds every value counted in o to h. Merging is exact: the result is
// the histogram that recording both sets of values in one place gives.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.count == 0 {
		return
	}
	for c, src := range o.chunks {
		if src == nil {
			continue
		}
		dst := h.chunks[c]
		if dst == nil {
			dst = new([subBuckets]uint64)
			h.chunks[c] = dst
		}
		for i, n := range src {
			dst[i] += n
		}
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	// NOTE: the counts wrap after 2^64 values. Merging reaches that only
	// from over 2048 histograms at the count limit of DecodeMsgpack.
	h.count += o.count
	h.sum = addSaturating(h.sum, o.sum)
}

// Reset empties h and keeps its chunks for reuse.
func (h *Histogram) Reset() {
	for _, chunk := range h.chunks {
		if chunk != nil {
			*chunk = [subBuckets]uint64{}
		}
	}
	h.count, h.sum, h.min, h.max = 0, 0, 0, 0
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Min returns the smallest recorded value, exactly, or 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest recorded value, exactly, or 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the arithmetic mean of the recorded values, rounded down, or
// 0 when empty. When the sum exceeds math.MaxUint64 ns the mean is too low,
// but never below Min.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.clamp(h.sum / h.count))
}

// Quantile returns the value at rank ceil(q*count) among the recorded values,
// within RelativeError. The first and the last rank return Min and Max
// exactly. The result never exceeds Max, never falls below Min, and never
// decreases as q grows. q is clamped to [0, 1], NaN counts as 0, and an empty
// histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if math.IsNaN(q) || q < 0 {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank <= 1 {
		return time.Duration(h.min)
	}
	if rank >= h.count {
		return time.Duration(h.max)
	}

	var seen uint64
	for c, chunk := range h.chunks {
		if chunk == nil {
			continue
		}
		for i, n := range chunk {
			seen += n
			if seen >= rank {
				return time.Duration(h.clamp(midpoint(c, i)))
			}
		}
	}
	return time.Duration(h.max)
}

func (h *Histogram) clamp(v uint64) uint64 {
	return min(max(v, h.min), h.max)
}

// index returns the chunk and the bucket within it that v falls in.
func index(v uint64) (chunk, bucket int) {
	if v < subBuckets {
		return 0, int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift + 1, int(v>>shift) - subBuckets
}

// lowerBound returns the smallest value that falls in the bucket.
func lowerBound(chunk, bucket int) uint64 {
	if chunk == 0 {
		return uint64(bucket)
	}
	return uint64(subBuckets+bucket) << (chunk - 1)
}

// midpoint returns the value a quantile reports for the bucket.
func midpoint(chunk, bucket int) uint64 {
	if chunk == 0 {
		return uint64(bucket)
	}
	width := uint64(1) << (chunk - 1)
	return lowerBound(chunk, bucket) + width/2
}

func addSaturating(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}
