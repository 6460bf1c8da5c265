package histogram

import (
	"errors"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrCorrupt is returned when decoding a histogram whose fields contradict
// each other.
var ErrCorrupt = errors.New("corrupt histogram")

// maxEncodedBuckets is the number of buckets a Histogram can have.
const maxEncodedBuckets = chunkCount * subBuckets

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

// DecodeMsgpack reads what EncodeMsgpack wrote. It returns ErrCorrupt when
// the bucket counts do not add up to the count, a bucket index is out of
// range, or min and max contradict the buckets.
func (h *Histogram) DecodeMsgpack(dec *msgpack.Decoder) error {
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
	lowest, highest := uint64(math.MaxUint64), uint64(0)
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
			if lowerBound(c, b) < lowest {
				lowest = lowerBound(c, b)
			}
			if upper := upperBound(c, b); upper > highest {
				highest = upper
			}
		}
	}
	h.count, h.sum, h.min, h.max = head[0], head[1], head[2], head[3]
	if total != h.count {
		return fmt.Errorf("%w: buckets hold %d values, count is %d", ErrCorrupt, total, h.count)
	}
	if h.count > 0 && (h.min > h.max || h.min < lowest || h.max > highest) {
		return fmt.Errorf("%w: min %d and max %d do not match the buckets", ErrCorrupt, h.min, h.max)
	}
	return nil
}

// upperBound returns the largest value that falls in the bucket.
func upperBound(chunk, bucket int) uint64 {
	if chunk == 0 {
		return uint64(bucket)
	}
	return lowerBound(chunk, bucket) + (uint64(1) << (chunk - 1)) - 1
}

func addCarry(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s < a
}
