package histogram

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrCorrupt is returned when decoding a histogram whose fields contradict
// each other or exceed a limit.
var ErrCorrupt = errors.New("corrupt histogram")

// maxEncodedBuckets is the number of buckets a Histogram can have.
const maxEncodedBuckets = chunkCount * subBuckets

// maxDecodedCount is the largest count that DecodeMsgpack accepts. Quantile
// computes ranks in float64, which holds every integer up to 2^53 exactly,
// and the limit keeps Record and Merge far from overflowing the count.
const maxDecodedCount = 1 << 53

// EncodeMsgpack writes h as an array: count, sum, min, max, then pairs of
// bucket index and count for the buckets that are not empty.
func (h *Histogram) EncodeMsgpack(enc *msgpack.Encoder) error {
	used := 0
	for _, chunk := range h.chunks {
		if chunk == nil {
			continue
		}
		for _, n := range chunk {
			if n != 0 {
				used++
			}
		}
	}
	if err := enc.EncodeArrayLen(4 + 2*used); err != nil {
		return err
	}
	for _, v := range [...]uint64{h.count, h.sum, h.min, h.max} {
		if err := enc.EncodeUint(v); err != nil {
			return err
		}
	}
	for c, chunk := range h.chunks {
		if chunk == nil {
			continue
		}
		for i, n := range chunk {
			if n == 0 {
				continue
			}
			if err := enc.EncodeUint(uint64(c*subBuckets + i)); err != nil {
				return err
			}
			if err := enc.EncodeUint(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// DecodeMsgpack reads what EncodeMsgpack wrote and replaces the contents of
// h. On any error h is left empty. The error wraps ErrCorrupt when the
// fields contradict each other or exceed a limit:
//   - the field count is odd, below 4 or above what a Histogram can use,
//   - a bucket index is out of range,
//   - the bucket counts do not add up to the count,
//   - the count exceeds 2^53,
//   - max exceeds math.MaxInt64, or min exceeds max,
//   - min or max is not in the lowest or highest non-empty bucket,
//   - min and max of a single value differ,
//   - the sum is outside count*min and count*max,
//   - an empty histogram has a sum, min or max other than 0.
func (h *Histogram) DecodeMsgpack(dec *msgpack.Decoder) (err error) {
	defer func() {
		if err != nil {
			h.Reset()
		}
	}()

	n, err := dec.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 4 || n%2 != 0 || n > 4+2*maxEncodedBuckets {
		return fmt.Errorf("%w: %d fields", ErrCorrupt, n)
	}
	var head [4]uint64
	for i := range head {
		if head[i], err = dec.DecodeUint64(); err != nil {
			return err
		}
	}

	h.Reset()
	var total uint64
	// first and last are the indexes of the lowest and highest bucket with
	// a count above zero, or -1 while there is none.
	first, last := -1, -1
	for i := 0; i < (n-4)/2; i++ {
		idx, err := dec.DecodeUint64()
		if err != nil {
			return err
		}
		count, err := dec.DecodeUint64()
		if err != nil {
			return err
		}
		if idx >= maxEncodedBuckets {
			return fmt.Errorf("%w: bucket %d out of range", ErrCorrupt, idx)
		}
		c, b := int(idx/subBuckets), int(idx%subBuckets)
		if h.chunks[c] == nil {
			h.chunks[c] = new([subBuckets]uint64)
		}
		h.chunks[c][b] += count
		sum, carry := addCarry(total, count)
		if carry {
			return fmt.Errorf("%w: bucket counts overflow", ErrCorrupt)
		}
		total = sum
		if count > 0 {
			if first < 0 || int(idx) < first {
				first = int(idx)
			}
			last = max(last, int(idx))
		}
	}

	h.count, h.sum, h.min, h.max = head[0], head[1], head[2], head[3]
	if total != h.count {
		return fmt.Errorf("%w: buckets hold %d values, count is %d", ErrCorrupt, total, h.count)
	}
	if h.count > maxDecodedCount {
		return fmt.Errorf("%w: count %d exceeds %d", ErrCorrupt, h.count, maxDecodedCount)
	}
	return h.checkSummary(first, last)
}

// checkSummary returns an error wrapping ErrCorrupt unless min, max and sum
// are values that recording the bucket counts could have given. first and
// last are the indexes of the lowest and highest non-empty bucket.
func (h *Histogram) checkSummary(first, last int) error {
	if h.count == 0 {
		if h.sum != 0 || h.min != 0 || h.max != 0 {
			return fmt.Errorf("%w: empty histogram with sum %d, min %d, max %d",
				ErrCorrupt, h.sum, h.min, h.max)
		}
		return nil
	}
	if h.max > math.MaxInt64 {
		return fmt.Errorf("%w: max %d exceeds the largest duration", ErrCorrupt, h.max)
	}
	if h.min > h.max {
		return fmt.Errorf("%w: min %d exceeds max %d", ErrCorrupt, h.min, h.max)
	}
	if h.count == 1 && h.min != h.max {
		return fmt.Errorf("%w: one value but min %d differs from max %d", ErrCorrupt, h.min, h.max)
	}
	if c, b := index(h.min); c*subBuckets+b != first {
		return fmt.Errorf("%w: min %d is not in the lowest non-empty bucket", ErrCorrupt, h.min)
	}
	if c, b := index(h.max); c*subBuckets+b != last {
		return fmt.Errorf("%w: max %d is not in the highest non-empty bucket", ErrCorrupt, h.max)
	}
	// Record saturates the sum, so the bounds saturate too.
	low, high := mulSaturating(h.min, h.count), mulSaturating(h.max, h.count)
	if h.sum < low || h.sum > high {
		return fmt.Errorf("%w: sum %d is outside count*min %d and count*max %d",
			ErrCorrupt, h.sum, low, high)
	}
	return nil
}

func addCarry(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s < a
}

func mulSaturating(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}
