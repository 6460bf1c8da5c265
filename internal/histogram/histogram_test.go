package histogram

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// distribution draws one latency in nanoseconds.
type distribution struct {
	name string
	draw func(r *rand.Rand) uint64
}

const hour = uint64(time.Hour)

var distributions = []distribution{
	{"uniform 1ms to 2s", func(r *rand.Rand) uint64 {
		return uint64(time.Millisecond) + r.Uint64N(uint64(2*time.Second))
	}},
	{"exponential with mean 50ms", func(r *rand.Rand) uint64 {
		return uint64(r.ExpFloat64() * float64(50*time.Millisecond))
	}},
	{"bimodal at 10ms and 500ms", func(r *rand.Rand) uint64 {
		mean, spread := 10*time.Millisecond, time.Millisecond
		if r.IntN(5) == 0 {
			mean, spread = 500*time.Millisecond, 50*time.Millisecond
		}
		return uint64(max(0, float64(mean)+r.NormFloat64()*float64(spread)))
	}},
	{"log-uniform 1ns to 1h", func(r *rand.Rand) uint64 {
		return uint64(math.Exp(r.Float64() * math.Log(float64(hour))))
	}},
	{"small integers 0 to 300ns", func(r *rand.Rand) uint64 {
		return r.Uint64N(301)
	}},
	{"five repeated values", func(r *rand.Rand) uint64 {
		return [...]uint64{0, 1, 999_999, 1_000_000, hour}[r.IntN(5)]
	}},
}

var sampleSizes = []int{1, 2, 3, 10, 101, 1000, 20000}

// sample is one random value set with the histogram that recorded it.
type sample struct {
	name   string
	sorted []uint64
	h      *Histogram
}

// randomSamples returns one value set for every distribution, size and
// seed. The seeds are fixed, so every run checks the same sets.
func randomSamples() []sample {
	var out []sample
	for _, d := range distributions {
		for _, n := range sampleSizes {
			for seed := uint64(1); seed <= 2; seed++ {
				r := rand.New(rand.NewPCG(seed, uint64(n)))
				values := make([]uint64, n)
				h := new(Histogram)
				for i := range values {
					values[i] = d.draw(r)
					h.RecordValue(values[i])
				}
				slices.Sort(values)
				out = append(out, sample{
					name:   fmt.Sprintf("%s, %d values, seed %d", d.name, n, seed),
					sorted: values,
					h:      h,
				})
			}
		}
	}
	return out
}

// quantileGrid is the q values that every property test checks, from 0 to 1.
func quantileGrid() []float64 {
	qs := []float64{0, 1e-6, 0.0001, 0.001, 0.01, 0.05, 0.25, 0.5, 0.75,
		0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 0.999999, 1}
	for i := 1; i < 100; i++ {
		qs = append(qs, float64(i)/100)
	}
	slices.Sort(qs)
	return slices.Compact(qs)
}

// fineGrid is 0 to 1 in steps of 0.001.
func fineGrid() []float64 {
	qs := make([]float64, 1001)
	for i := range qs {
		qs[i] = float64(i) / 1000
	}
	return qs
}

// exactQuantile returns the value at rank ceil(q*n), counting from 1, of a
// sorted sample. It computes the rank the same way Quantile documents.
func exactQuantile(sorted []uint64, q float64) uint64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(rank, 1)
	return sorted[rank-1]
}

// withinRelativeError reports whether got is within RelativeError of want.
func withinRelativeError(got, want uint64) bool {
	diff := math.Abs(float64(got) - float64(want))
	return diff <= RelativeError*float64(want)
}

func TestQuantileMatchesExactSample(t *testing.T) {
	for _, s := range randomSamples() {
		t.Run(s.name, func(t *testing.T) {
			for _, q := range quantileGrid() {
				got := uint64(s.h.Quantile(q))
				want := exactQuantile(s.sorted, q)
				if !withinRelativeError(got, want) {
					t.Errorf("Quantile(%v) = %d, want %d within %.2f%%",
						q, got, want, 100*RelativeError)
				}
			}
		})
	}
}

func TestQuantileStaysWithinMinMax(t *testing.T) {
	for _, s := range randomSamples() {
		t.Run(s.name, func(t *testing.T) {
			lowest, highest := s.h.Min(), s.h.Max()
			for _, q := range fineGrid() {
				got := s.h.Quantile(q)
				if got > highest {
					t.Errorf("Quantile(%v) = %d, above Max %d", q, got, highest)
				}
				if got < lowest {
					t.Errorf("Quantile(%v) = %d, below Min %d", q, got, lowest)
				}
			}
		})
	}
}

func TestQuantileIsMonotone(t *testing.T) {
	for _, s := range randomSamples() {
		t.Run(s.name, func(t *testing.T) {
			previous := s.h.Quantile(0)
			for _, q := range fineGrid()[1:] {
				got := s.h.Quantile(q)
				if got < previous {
					t.Errorf("Quantile(%v) = %d, less than %d at q-0.001",
						q, got, previous)
				}
				previous = got
			}
		})
	}
}

func TestQuantileEndsAreMinAndMax(t *testing.T) {
	for _, s := range randomSamples() {
		t.Run(s.name, func(t *testing.T) {
			if got, want := s.h.Quantile(0), s.h.Min(); got != want {
				t.Errorf("Quantile(0) = %d, want Min %d", got, want)
			}
			if got, want := s.h.Quantile(1), s.h.Max(); got != want {
				t.Errorf("Quantile(1) = %d, want Max %d", got, want)
			}
		})
	}
}

func TestSummaryStatisticsAreExact(t *testing.T) {
	for _, s := range randomSamples() {
		t.Run(s.name, func(t *testing.T) {
			var sum uint64
			for _, v := range s.sorted {
				sum += v
			}
			n := uint64(len(s.sorted))

			if got := s.h.Count(); got != n {
				t.Errorf("Count() = %d, want %d", got, n)
			}
			if got, want := s.h.Min(), time.Duration(s.sorted[0]); got != want {
				t.Errorf("Min() = %d, want %d", got, want)
			}
			if got, want := s.h.Max(), time.Duration(s.sorted[n-1]); got != want {
				t.Errorf("Max() = %d, want %d", got, want)
			}
			if got, want := s.h.Mean(), time.Duration(sum/n); got != want {
				t.Errorf("Mean() = %d, want %d", got, want)
			}
		})
	}
}

func TestQuantileClampsQ(t *testing.T) {
	h := new(Histogram)
	for _, v := range []time.Duration{3 * time.Millisecond, 7 * time.Millisecond, time.Second} {
		h.Record(v)
	}
	tests := []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"negative q reports the minimum", -0.5, 3 * time.Millisecond},
		{"negative infinity reports the minimum", math.Inf(-1), 3 * time.Millisecond},
		{"NaN reports the minimum", math.NaN(), 3 * time.Millisecond},
		{"q above 1 reports the maximum", 1.5, time.Second},
		{"positive infinity reports the maximum", math.Inf(1), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestEmptyHistogramReportsZero(t *testing.T) {
	var h Histogram
	if got := h.Count(); got != 0 {
		t.Errorf("Count() = %d, want 0", got)
	}
	if got := h.Min(); got != 0 {
		t.Errorf("Min() = %v, want 0", got)
	}
	if got := h.Max(); got != 0 {
		t.Errorf("Max() = %v, want 0", got)
	}
	if got := h.Mean(); got != 0 {
		t.Errorf("Mean() = %v, want 0", got)
	}
	for _, q := range []float64{0, 0.5, 1} {
		if got := h.Quantile(q); got != 0 {
			t.Errorf("Quantile(%v) = %v, want 0", q, got)
		}
	}
}

func TestBucketBoundsContainValue(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 511, 512,
		1<<20 - 1, 1 << 20, 1<<20 + 1, 1 << 62, math.MaxInt64}
	// RecordValue stores at most math.MaxInt64, so index never gets a
	// larger value.
	for range 10000 {
		values = append(values, r.Uint64()>>(1+r.IntN(63)))
	}
	for _, v := range values {
		c, b := index(v)
		if c < 0 || c >= chunkCount || b < 0 || b >= subBuckets {
			t.Errorf("index(%d) = (%d, %d), outside %d chunks of %d buckets",
				v, c, b, chunkCount, subBuckets)
			continue
		}
		if lo := lowerBound(c, b); lo > v {
			t.Errorf("lowerBound of the bucket of %d = %d, above the value", v, lo)
		}
		// The next bucket starts where this one ends. After the last bucket
		// of a chunk comes the first bucket of the next chunk.
		next := lowerBound(c, b) + 1
		if c > 0 {
			next = lowerBound(c, b) + 1<<(c-1)
		}
		if next <= v {
			t.Errorf("bucket of %d ends at %d, not above the value", v, next-1)
		}
		if nc, nb := index(next); nc*subBuckets+nb != c*subBuckets+b+1 {
			t.Errorf("value %d after the bucket of %d is in bucket %d of chunk %d, "+
				"want the bucket after %d of chunk %d", next, v, nb, nc, b, c)
		}
		if mid := midpoint(c, b); !withinRelativeError(mid, v) {
			t.Errorf("midpoint of the bucket of %d = %d, not within %.2f%%",
				v, mid, 100*RelativeError)
		}
	}
}

// sameHistogram reports every field in which got differs from want: the
// summary statistics, the bucket counts and the quantiles on fineGrid.
func sameHistogram(t *testing.T, got, want *Histogram) {
	t.Helper()
	sameContents(t, got, want)
	for _, q := range fineGrid() {
		if g, w := got.Quantile(q), want.Quantile(q); g != w {
			t.Errorf("Quantile(%v) = %d, want %d", q, g, w)
		}
	}
}

// sameContents reports every field in which got differs from want: the
// summary statistics and the bucket counts. A chunk that is not allocated
// counts as a chunk of zeros.
func sameContents(t *testing.T, got, want *Histogram) {
	t.Helper()
	if got.count != want.count {
		t.Errorf("count = %d, want %d", got.count, want.count)
	}
	if got.sum != want.sum {
		t.Errorf("sum = %d, want %d", got.sum, want.sum)
	}
	if got.min != want.min {
		t.Errorf("min = %d, want %d", got.min, want.min)
	}
	if got.max != want.max {
		t.Errorf("max = %d, want %d", got.max, want.max)
	}
	for c := range chunkCount {
		for b := range subBuckets {
			g, w := bucketCount(got, c, b), bucketCount(want, c, b)
			if g != w {
				t.Errorf("bucket %d of chunk %d counts %d, want %d", b, c, g, w)
			}
		}
	}
	if g, w := got.Mean(), want.Mean(); g != w {
		t.Errorf("Mean() = %d, want %d", g, w)
	}
}

func bucketCount(h *Histogram, chunk, bucket int) uint64 {
	if h.chunks[chunk] == nil {
		return 0
	}
	return h.chunks[chunk][bucket]
}

func TestMergeEqualsRecordingAll(t *testing.T) {
	for i, d := range distributions {
		for _, n := range []int{1, 100, 5000} {
			name := fmt.Sprintf("%s, %d values per side", d.name, n)
			t.Run(name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(i), uint64(n)))
				a, b, all := new(Histogram), new(Histogram), new(Histogram)
				for range n {
					v := d.draw(r)
					a.RecordValue(v)
					all.RecordValue(v)
				}
				// The second side draws from the next distribution, so the
				// two sides cover different ranges.
				other := distributions[(i+1)%len(distributions)]
				for range n {
					v := other.draw(r)
					b.RecordValue(v)
					all.RecordValue(v)
				}

				a.Merge(b)
				sameHistogram(t, a, all)
			})
		}
	}
}

func TestMergeOfNothingIsNoOp(t *testing.T) {
	filled := func() *Histogram {
		h := new(Histogram)
		for _, v := range []time.Duration{time.Microsecond, 40 * time.Millisecond, time.Minute} {
			h.Record(v)
		}
		return h
	}
	reset := new(Histogram)
	reset.Record(time.Hour)
	reset.Reset()

	tests := []struct {
		name  string
		other *Histogram
	}{
		{"nil histogram changes nothing", nil},
		{"zero histogram changes nothing", new(Histogram)},
		{"reset histogram changes nothing", reset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := filled()
			h.Merge(tt.other)
			sameHistogram(t, h, filled())
		})
	}
}

func TestMergeIntoEmptyCopies(t *testing.T) {
	src := new(Histogram)
	for _, v := range []time.Duration{5 * time.Millisecond, 6 * time.Millisecond, 2 * time.Second} {
		src.Record(v)
	}

	t.Run("zero histogram becomes a copy", func(t *testing.T) {
		h := new(Histogram)
		h.Merge(src)
		sameHistogram(t, h, src)
	})
	t.Run("reset histogram becomes a copy", func(t *testing.T) {
		h := new(Histogram)
		h.Record(time.Nanosecond)
		h.Record(time.Hour)
		h.Reset()
		h.Merge(src)
		sameHistogram(t, h, src)
	})
}

func TestMergeOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	parts := make([]*Histogram, 4)
	for i := range parts {
		parts[i] = new(Histogram)
		d := distributions[i]
		for range 1000 * (i + 1) {
			parts[i].RecordValue(d.draw(r))
		}
	}
	orders := [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}, {1, 3, 0, 2}}

	want := new(Histogram)
	for _, i := range orders[0] {
		want.Merge(parts[i])
	}
	for _, order := range orders[1:] {
		t.Run(fmt.Sprintf("order %v gives the same histogram", order), func(t *testing.T) {
			got := new(Histogram)
			for _, i := range order {
				got.Merge(parts[i])
			}
			sameHistogram(t, got, want)
		})
	}

	t.Run("merging pairwise gives the same histogram", func(t *testing.T) {
		left, right := new(Histogram), new(Histogram)
		left.Merge(parts[3])
		left.Merge(parts[1])
		right.Merge(parts[2])
		right.Merge(parts[0])
		right.Merge(left)
		sameHistogram(t, right, want)
	})
}

func TestMergeWithItselfDoubles(t *testing.T) {
	h, want := new(Histogram), new(Histogram)
	for _, v := range []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Second} {
		h.Record(v)
		want.Record(v)
		want.Record(v)
	}
	h.Merge(h)
	sameHistogram(t, h, want)
}

func TestMergedWorkersReportSlowTail(t *testing.T) {
	const (
		fast = 10 * time.Millisecond
		slow = 500 * time.Millisecond
	)
	a, b := new(Histogram), new(Histogram)
	for range 1000 {
		a.Record(fast)
	}
	for range 900 {
		b.Record(fast)
	}
	for range 100 {
		b.Record(slow)
	}
	a.Merge(b)

	if got := a.Count(); got != 2000 {
		t.Errorf("Count() = %d, want 2000", got)
	}
	if got := a.Quantile(0.99); !withinRelativeError(uint64(got), uint64(slow)) {
		t.Errorf("p99 = %v, want %v within %.2f%%", got, slow, 100*RelativeError)
	}
	if got := a.Quantile(0.95); !withinRelativeError(uint64(got), uint64(fast)) {
		t.Errorf("p95 = %v, want %v within %.2f%%", got, fast, 100*RelativeError)
	}
}

func TestSingleOutlierBoundsQuantiles(t *testing.T) {
	const (
		typical = 230 * time.Millisecond
		outlier = 596 * time.Millisecond
	)
	h := new(Histogram)
	for range 49 {
		h.Record(typical)
	}
	h.Record(outlier)

	for _, q := range fineGrid() {
		got := h.Quantile(q)
		if got > outlier {
			t.Errorf("Quantile(%v) = %v, above the largest value %v", q, got, outlier)
		}
		if got < typical {
			t.Errorf("Quantile(%v) = %v, below the smallest value %v", q, got, typical)
		}
	}
	if got := h.Quantile(1); got != outlier {
		t.Errorf("p100 = %v, want exactly %v", got, outlier)
	}
}

func TestResetEmptiesAndReuses(t *testing.T) {
	h := new(Histogram)
	for _, v := range []time.Duration{time.Microsecond, time.Second, time.Hour} {
		h.Record(v)
	}
	h.Reset()

	t.Run("reset histogram is empty", func(t *testing.T) {
		sameHistogram(t, h, new(Histogram))
	})
	t.Run("reset histogram records again", func(t *testing.T) {
		want := new(Histogram)
		for _, v := range []time.Duration{2 * time.Millisecond, 3 * time.Millisecond} {
			h.Record(v)
			want.Record(v)
		}
		sameHistogram(t, h, want)
		if got := h.Min(); got != 2*time.Millisecond {
			t.Errorf("Min() = %v, want 2ms", got)
		}
		if got := h.Max(); got != 3*time.Millisecond {
			t.Errorf("Max() = %v, want 3ms", got)
		}
	})
}

func TestNegativeDurationCountsAsZero(t *testing.T) {
	h := new(Histogram)
	h.Record(-time.Second)
	h.Record(-1)
	h.Record(time.Millisecond)

	if got := h.Count(); got != 3 {
		t.Errorf("Count() = %d, want 3", got)
	}
	if got := h.Min(); got != 0 {
		t.Errorf("Min() = %v, want 0", got)
	}
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("p50 = %v, want 0", got)
	}
	if got := h.Max(); got != time.Millisecond {
		t.Errorf("Max() = %v, want 1ms", got)
	}
}

func TestHugeValues(t *testing.T) {
	tests := []struct {
		name   string
		values []uint64
		want   time.Duration // Max: exact, or math.MaxInt64 when saturated
	}{
		{"largest Duration is kept exactly", []uint64{math.MaxInt64}, math.MaxInt64},
		{"1<<62 is kept exactly", []uint64{1 << 62}, 1 << 62},
		{"1<<63 saturates at the largest Duration", []uint64{1 << 63}, math.MaxInt64},
		{"MaxUint64 saturates at the largest Duration", []uint64{math.MaxUint64}, math.MaxInt64},
		{"mixed with small values", []uint64{1, math.MaxUint64, 1 << 63, 5000}, math.MaxInt64},
		{"sum overflows", []uint64{math.MaxInt64, math.MaxInt64, math.MaxInt64}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := new(Histogram)
			for _, v := range tt.values {
				h.RecordValue(v)
			}

			if got := h.Max(); got != tt.want {
				t.Errorf("Max() = %d, want %d", got, tt.want)
			}
			if got, want := h.Count(), uint64(len(tt.values)); got != want {
				t.Errorf("Count() = %d, want %d", got, want)
			}
			if got := h.Min(); got < 0 {
				t.Errorf("Min() = %d, want a non-negative duration", got)
			}
			if got := h.Mean(); got < h.Min() || got > h.Max() {
				t.Errorf("Mean() = %d, outside Min %d and Max %d", got, h.Min(), h.Max())
			}
			previous := h.Quantile(0)
			for _, q := range fineGrid() {
				got := h.Quantile(q)
				if got < h.Min() || got > h.Max() {
					t.Errorf("Quantile(%v) = %d, outside Min %d and Max %d",
						q, got, h.Min(), h.Max())
				}
				if got < previous {
					t.Errorf("Quantile(%v) = %d, less than %d at q-0.001", q, got, previous)
				}
				previous = got
			}
		})
	}

	t.Run("Record of the largest Duration is exact", func(t *testing.T) {
		h := new(Histogram)
		h.Record(math.MaxInt64)
		if got := h.Max(); got != math.MaxInt64 {
			t.Errorf("Max() = %d, want %d", got, int64(math.MaxInt64))
		}
		if got := h.Quantile(1); got != math.MaxInt64 {
			t.Errorf("Quantile(1) = %d, want %d", got, int64(math.MaxInt64))
		}
	})
}

// latencies returns n log-normal latencies around 20 ms with a long tail,
// the spread a typical HTTP target shows.
func latencies(r *rand.Rand, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(math.Exp(math.Log(20e6) + r.NormFloat64()*0.8))
	}
	return out
}

func BenchmarkRecord(b *testing.B) {
	values := latencies(rand.New(rand.NewPCG(1, 2)), 4096)
	h := new(Histogram)
	for _, v := range values {
		h.Record(v) // allocates the chunks before timing starts
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.Record(values[i%len(values)])
		i++
	}
}

func BenchmarkMerge(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	src, dst := new(Histogram), new(Histogram)
	for _, v := range latencies(r, 100_000) {
		src.Record(v)
	}
	for _, v := range latencies(r, 100_000) {
		dst.Record(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		dst.Merge(src)
	}
}

func BenchmarkQuantile(b *testing.B) {
	h := new(Histogram)
	for _, v := range latencies(rand.New(rand.NewPCG(5, 6)), 100_000) {
		h.Record(v)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.Quantile(0.99)
	}
}
