package histogram

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// encodeFields returns a msgpack array of fields, which need not describe a
// valid histogram.
func encodeFields(tb testing.TB, fields ...any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := enc.EncodeArrayLen(len(fields)); err != nil {
		tb.Fatalf("encode array length: %v", err)
	}
	for _, field := range fields {
		if err := enc.Encode(field); err != nil {
			tb.Fatalf("encode field %v: %v", field, err)
		}
	}
	return buf.Bytes()
}

// bucketIndex returns the index that EncodeMsgpack writes for the bucket of v.
func bucketIndex(v uint64) uint64 {
	c, b := index(v)
	return uint64(c*subBuckets + b)
}

func roundTrip(t *testing.T, h *Histogram) *Histogram {
	t.Helper()
	data, err := msgpack.Marshal(h)
	if err != nil {
		t.Fatalf("msgpack.Marshal: %v", err)
	}
	got := new(Histogram)
	if err := msgpack.Unmarshal(data, got); err != nil {
		t.Fatalf("msgpack.Unmarshal: %v", err)
	}
	return got
}

func TestMsgpackRoundTrip(t *testing.T) {
	single := new(Histogram)
	single.Record(42 * time.Millisecond)
	zeros := new(Histogram)
	for range 3 {
		zeros.Record(0)
	}
	huge := new(Histogram)
	for _, v := range []uint64{0, 1, 1 << 40, math.MaxInt64, math.MaxUint64} {
		huge.RecordValue(v)
	}
	reset := new(Histogram)
	reset.Record(time.Hour)
	reset.Reset()

	tests := []struct {
		name string
		h    *Histogram
	}{
		{"empty histogram round trips", new(Histogram)},
		{"reset histogram round trips as empty", reset},
		{"single value round trips", single},
		{"repeated zeros round trip", zeros},
		{"values up to the largest Duration round trip", huge},
	}
	for _, s := range randomSamples() {
		tests = append(tests, struct {
			name string
			h    *Histogram
		}{s.name + " round trip", s.h})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.h)
			sameHistogram(t, got, tt.h)
		})
	}
}

func TestMsgpackDecodeReplacesContents(t *testing.T) {
	src := new(Histogram)
	for _, v := range []time.Duration{time.Millisecond, 2 * time.Millisecond} {
		src.Record(v)
	}
	data, err := msgpack.Marshal(src)
	if err != nil {
		t.Fatalf("msgpack.Marshal: %v", err)
	}

	got := new(Histogram)
	for _, v := range []time.Duration{time.Nanosecond, time.Second, time.Hour} {
		got.Record(v)
	}
	if err := msgpack.Unmarshal(data, got); err != nil {
		t.Fatalf("msgpack.Unmarshal: %v", err)
	}
	sameHistogram(t, got, src)
}

func TestMsgpackStructField(t *testing.T) {
	type report struct {
		Name    string    `msgpack:"n"`
		Latency Histogram `msgpack:"l"`
	}
	in := &report{Name: "checkout"}
	for _, v := range latencies(rand.New(rand.NewPCG(8, 9)), 1000) {
		in.Latency.Record(v)
	}

	data, err := msgpack.Marshal(in)
	if err != nil {
		t.Fatalf("msgpack.Marshal: %v", err)
	}
	var out report
	if err := msgpack.Unmarshal(data, &out); err != nil {
		t.Fatalf("msgpack.Unmarshal: %v", err)
	}
	if out.Name != in.Name {
		t.Errorf("Name = %q, want %q", out.Name, in.Name)
	}
	sameHistogram(t, &out.Latency, &in.Latency)
}

func TestMsgpackNilDecodesAsEmpty(t *testing.T) {
	data, err := msgpack.Marshal((*Histogram)(nil))
	if err != nil {
		t.Fatalf("msgpack.Marshal of a nil *Histogram: %v", err)
	}
	if want := []byte{0xc0}; !bytes.Equal(data, want) {
		t.Errorf("msgpack.Marshal of a nil *Histogram = %x, want %x", data, want)
	}

	h := new(Histogram)
	h.Record(time.Second)
	if err := msgpack.Unmarshal(data, h); err != nil {
		t.Fatalf("msgpack.Unmarshal of nil: %v", err)
	}
	sameHistogram(t, h, new(Histogram))
}

func TestMsgpackEncodingIsCompact(t *testing.T) {
	t.Run("empty histogram takes 5 bytes", func(t *testing.T) {
		data, err := msgpack.Marshal(new(Histogram))
		if err != nil {
			t.Fatalf("msgpack.Marshal: %v", err)
		}
		if len(data) != 5 {
			t.Errorf("encoded length = %d bytes, want 5", len(data))
		}
	})

	t.Run("10000 values between 1ms and 2ms take under 1500 bytes", func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		h := new(Histogram)
		for range 10000 {
			h.Record(time.Millisecond + time.Duration(r.Int64N(int64(time.Millisecond))))
		}
		data, err := msgpack.Marshal(h)
		if err != nil {
			t.Fatalf("msgpack.Marshal: %v", err)
		}
		if len(data) >= 1500 {
			t.Errorf("encoded length = %d bytes, want under 1500", len(data))
		}
	})

	t.Run("size does not grow with the count", func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		small, large := new(Histogram), new(Histogram)
		for i := range 1_000_000 {
			v := time.Millisecond + time.Duration(r.Int64N(int64(time.Millisecond)))
			if i < 100_000 {
				small.Record(v)
			}
			large.Record(v)
		}
		smallData, err := msgpack.Marshal(small)
		if err != nil {
			t.Fatalf("msgpack.Marshal: %v", err)
		}
		largeData, err := msgpack.Marshal(large)
		if err != nil {
			t.Fatalf("msgpack.Marshal: %v", err)
		}
		// The values touch two chunks, so at most 2*subBuckets bucket counts
		// and the 4 header fields can widen. These counts stay below 2^32,
		// so a tenfold count widens a field by 2 bytes at most.
		limit := len(smallData) + 2*(4+2*subBuckets)
		if len(largeData) > limit {
			t.Errorf("encoded length = %d bytes for 1e6 values, want at most %d "+
				"(%d bytes for 1e5 values)", len(largeData), limit, len(smallData))
		}
	})
}

func TestMsgpackDecodeRejectsCorruptFields(t *testing.T) {
	const (
		maxDuration  = uint64(math.MaxInt64)
		maxUint      = uint64(math.MaxUint64)
		aboveLimit   = uint64(maxDecodedCount + 1)
		countReason  = "exceeds 9007199254740992"
		lowReason    = "not in the lowest non-empty bucket"
		highReason   = "not in the highest non-empty bucket"
		fieldsReason = "fields"
	)
	tests := []struct {
		name   string
		fields []any  // count, sum, min, max, then bucket index and count pairs
		reason string // part of the error message
	}{
		{"count above the bucket total",
			[]any{5, 30, 10, 10, bucketIndex(10), 3}, "buckets hold 3 values, count is 5"},
		{"count below the bucket total",
			[]any{2, 30, 10, 10, bucketIndex(10), 3}, "buckets hold 3 values, count is 2"},
		{"count without buckets",
			[]any{1, 10, 10, 10}, "buckets hold 0 values, count is 1"},
		{"bucket index at the limit",
			[]any{1, 10, 10, 10, maxEncodedBuckets, 1}, "out of range"},
		{"bucket index far out of range",
			[]any{1, 10, 10, 10, maxUint, 1}, "out of range"},
		{"bucket counts overflowing",
			[]any{1, 10, 10, 10, bucketIndex(10), maxUint, bucketIndex(20), 2}, "overflow"},
		{"min above max",
			[]any{2, 30, 20, 10, bucketIndex(10), 1, bucketIndex(20), 1}, "min 20 exceeds max 10"},
		{"single value with min below max",
			[]any{1, 256, 256, 257, bucketIndex(256), 1}, "one value"},
		{"min below the lowest bucket",
			[]any{2, 30, 5, 20, bucketIndex(10), 1, bucketIndex(20), 1}, lowReason},
		{"min above the lowest bucket",
			[]any{2, 35, 15, 20, bucketIndex(10), 1, bucketIndex(20), 1}, lowReason},
		{"max below the highest bucket",
			[]any{2, 25, 10, 15, bucketIndex(10), 1, bucketIndex(20), 1}, highReason},
		{"max above the highest bucket",
			[]any{2, 35, 10, 25, bucketIndex(10), 1, bucketIndex(20), 1}, highReason},
		{"max above the largest Duration",
			[]any{1, maxUint, maxUint, maxUint, bucketIndex(maxDuration), 1}, "largest duration"},
		{"count above 2^53",
			[]any{aboveLimit, 10 * aboveLimit, 10, 10, bucketIndex(10), aboveLimit}, countReason},
		{"count that Record would wrap",
			[]any{maxUint, maxUint, 10, 10, bucketIndex(10), maxUint}, countReason},
		{"sum below count times min",
			[]any{2, 15, 10, 10, bucketIndex(10), 2}, "sum 15"},
		{"sum above count times max",
			[]any{2, 25, 10, 10, bucketIndex(10), 2}, "sum 25"},
		{"empty histogram with a sum", []any{0, 7, 0, 0}, "empty histogram"},
		{"empty histogram with a min", []any{0, 0, 7, 7}, "empty histogram"},
		{"empty histogram with a max", []any{0, 0, 0, 7}, "empty histogram"},
		{"empty histogram with an empty bucket and a max",
			[]any{0, 0, 0, 7, bucketIndex(7), 0}, "empty histogram"},
		{"odd field count", []any{1, 10, 10, 10, bucketIndex(10)}, fieldsReason},
		{"three fields", []any{0, 0, 0}, fieldsReason},
		{"no fields", []any{}, fieldsReason},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is corrupt", func(t *testing.T) {
			data := encodeFields(t, tt.fields...)
			h := new(Histogram)
			h.Record(time.Second)

			err := msgpack.Unmarshal(data, h)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("msgpack.Unmarshal(%x) error = %v, want ErrCorrupt", data, err)
			}
			if err != nil && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("msgpack.Unmarshal(%x) error = %q, want it to contain %q",
					data, err, tt.reason)
			}
			sameContents(t, h, new(Histogram))
		})
	}
}

func TestMsgpackDecodeAcceptsCountLimit(t *testing.T) {
	const limit = uint64(1 << 53)
	data := encodeFields(t, limit, 10*limit, 10, 10, bucketIndex(10), limit)
	h := new(Histogram)
	if err := msgpack.Unmarshal(data, h); err != nil {
		t.Fatalf("msgpack.Unmarshal of a count of 2^53: %v", err)
	}
	if got := h.Count(); got != limit {
		t.Errorf("Count() = %d, want %d", got, limit)
	}
	if got := h.Quantile(0.5); got != 10 {
		t.Errorf("Quantile(0.5) = %d, want 10", got)
	}
}

func TestMsgpackDecodeRejectsArrayLength(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"array32 of 2^32-1 fields", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"array32 of 2^31 fields", []byte{0xdd, 0x80, 0x00, 0x00, 0x00}},
		{"array16 of 65534 fields", []byte{0xdc, 0xff, 0xfe}},
		{"one pair more than the buckets", func() []byte {
			n := 4 + 2*maxEncodedBuckets + 2
			return []byte{0xdc, byte(n >> 8), byte(n)}
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is corrupt", func(t *testing.T) {
			h := new(Histogram)
			err := msgpack.Unmarshal(tt.data, h)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("msgpack.Unmarshal(%x) error = %v, want ErrCorrupt", tt.data, err)
			}
		})
	}
}

func TestMsgpackDecodeRejectsWrongTypes(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty input", nil},
		{"a string", encodeString(t, "histogram")},
		{"a map", []byte{0x81, 0xa1, 'n', 0x01}},
		{"a boolean", []byte{0xc3}},
		{"a float", []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"a string as the count", encodeFields(t, "one", 10, 10, 10, bucketIndex(10), 1)},
		{"a float as a bucket index", encodeFields(t, 1, 10, 10, 10, 10.5, 1)},
		{"an array as a bucket count", encodeFields(t, 1, 10, 10, 10, bucketIndex(10), []int{1})},
		{"a reserved type byte", []byte{0x94, 0xc1, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			h := new(Histogram)
			h.Record(time.Second)
			if err := msgpack.Unmarshal(tt.data, h); err == nil {
				t.Errorf("msgpack.Unmarshal(%x) succeeded, want an error", tt.data)
			}
			sameContents(t, h, new(Histogram))
		})
	}
}

func encodeString(tb testing.TB, s string) []byte {
	tb.Helper()
	data, err := msgpack.Marshal(s)
	if err != nil {
		tb.Fatalf("msgpack.Marshal(%q): %v", s, err)
	}
	return data
}

func TestMsgpackDecodeRejectsTruncated(t *testing.T) {
	h := new(Histogram)
	for _, v := range latencies(rand.New(rand.NewPCG(31, 32)), 500) {
		h.Record(v)
	}
	h.RecordValue(math.MaxInt64) // makes the header fields 9 bytes long
	data, err := msgpack.Marshal(h)
	if err != nil {
		t.Fatalf("msgpack.Marshal: %v", err)
	}

	for n := range len(data) {
		got := new(Histogram)
		if err := msgpack.Unmarshal(data[:n], got); err == nil {
			t.Errorf("msgpack.Unmarshal of the first %d of %d bytes succeeded, want an error",
				n, len(data))
		}
	}
}

// checkInvariants reports every documented property that h breaks.
func checkInvariants(t *testing.T, h *Histogram) {
	t.Helper()
	lowest, highest := h.Min(), h.Max()
	if lowest < 0 {
		t.Errorf("Min() = %d, want a non-negative duration", lowest)
	}
	if lowest > highest {
		t.Errorf("Min() = %d, above Max() %d", lowest, highest)
	}
	if mean := h.Mean(); mean < lowest || mean > highest {
		t.Errorf("Mean() = %d, outside Min %d and Max %d", mean, lowest, highest)
	}
	if got := h.Quantile(0); got != lowest {
		t.Errorf("Quantile(0) = %d, want Min %d", got, lowest)
	}
	if got := h.Quantile(1); got != highest {
		t.Errorf("Quantile(1) = %d, want Max %d", got, highest)
	}
	previous := lowest
	for _, q := range quantileGrid() {
		got := h.Quantile(q)
		if got < lowest || got > highest {
			t.Errorf("Quantile(%v) = %d, outside Min %d and Max %d", q, got, lowest, highest)
		}
		if got < previous {
			t.Errorf("Quantile(%v) = %d, less than %d at a smaller q", q, got, previous)
		}
		previous = got
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range randomSamples()[:12] {
		data, err := msgpack.Marshal(s.h)
		if err != nil {
			f.Fatalf("msgpack.Marshal: %v", err)
		}
		f.Add(data)
	}
	for _, data := range [][]byte{
		nil,
		{0xc0},
		{0x94, 0, 0, 0, 0},
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		[]byte("not a histogram"),
		encodeFields(f, 2, 30, 20, 10, bucketIndex(10), 1, bucketIndex(20), 1),
		encodeFields(f, 1, 10, 10, 10, maxEncodedBuckets, 1),
		encodeFields(f, 0, 0, 0, 7),
		encodeFields(f, 0, 48, 48, 48),
		encodeFields(f, uint64(math.MaxUint64), uint64(math.MaxUint64), 48, 48,
			bucketIndex(48), uint64(math.MaxUint64)),
	} {
		f.Add(data)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		h := new(Histogram)
		if err := msgpack.Unmarshal(data, h); err != nil {
			sameContents(t, h, new(Histogram))
			return
		}
		checkInvariants(t, h)

		encoded, err := msgpack.Marshal(h)
		if err != nil {
			t.Fatalf("msgpack.Marshal of a decoded histogram: %v", err)
		}
		again := new(Histogram)
		if err := msgpack.Unmarshal(encoded, again); err != nil {
			t.Fatalf("msgpack.Unmarshal of a re-encoded histogram: %v", err)
		}
		sameContents(t, again, h)
		reencoded, err := msgpack.Marshal(again)
		if err != nil {
			t.Fatalf("msgpack.Marshal of a twice decoded histogram: %v", err)
		}
		if !bytes.Equal(reencoded, encoded) {
			t.Errorf("second encoding = %x, want the first %x", reencoded, encoded)
		}

		// A decoded histogram must keep recording correctly.
		v := h.Quantile(0.5) / 2
		wantMin, wantMax := v, v
		if h.Count() > 0 {
			wantMin, wantMax = min(v, h.Min()), max(v, h.Max())
		}
		h.Record(v)
		if got := h.Min(); got != wantMin {
			t.Errorf("Min() after Record(%d) = %d, want %d", v, got, wantMin)
		}
		if got := h.Max(); got != wantMax {
			t.Errorf("Max() after Record(%d) = %d, want %d", v, got, wantMax)
		}
		checkInvariants(t, h)
	})
}

func BenchmarkEncode(b *testing.B) {
	h := new(Histogram)
	for _, v := range latencies(rand.New(rand.NewPCG(41, 42)), 100_000) {
		h.Record(v)
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		data, err := msgpack.Marshal(h)
		if err != nil {
			b.Fatalf("msgpack.Marshal: %v", err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "encoded-bytes")
}

func BenchmarkDecode(b *testing.B) {
	src := new(Histogram)
	for _, v := range latencies(rand.New(rand.NewPCG(43, 44)), 100_000) {
		src.Record(v)
	}
	data, err := msgpack.Marshal(src)
	if err != nil {
		b.Fatalf("msgpack.Marshal: %v", err)
	}
	h := new(Histogram)
	b.ReportAllocs()
	for b.Loop() {
		if err := msgpack.Unmarshal(data, h); err != nil {
			b.Fatalf("msgpack.Unmarshal: %v", err)
		}
	}
}
