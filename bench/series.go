//go:build linux

package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// series is the values of one measurement over several runs.
type series []float64

func (s series) sorted() []float64 {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// min returns the smallest value, or NaN for no values.
func (s series) min() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

// max returns the largest value, or NaN for no values.
func (s series) max() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// median returns the middle value, the mean of the two middle values for
// an even count, or NaN for no values.
func (s series) median() float64 {
	v := s.sorted()
	switch n := len(v); {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return v[n/2]
	default:
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// spread formats min, median and max with format, such as "%.0f".
func (s series) spread(format func(float64) string) (lo, mid, hi string) {
	return format(s.min()), format(s.median()), format(s.max())
}

// thousands formats v rounded to a whole number with commas between
// thousands, such as 123,456.
func thousands(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	n := int64(math.Round(v))
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	digits := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}

// fixed returns a formatter with the given decimals.
func fixed(decimals int) func(float64) string {
	return func(v float64) string {
		if math.IsNaN(v) {
			return "-"
		}
		return strconv.FormatFloat(v, 'f', decimals, 64)
	}
}

// ratio formats a/b with two significant decimals, or "-".
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "-"
	}
	r := a / b
	if r >= 10 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// loads formats the load averages seen at the start of each run.
func loads(values []float64) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fixed(2)(v)
	}
	return strings.Join(parts, ", ")
}
