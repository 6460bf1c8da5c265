package threshold

import (
	"math"
	"strconv"
	"time"
)

// LimitText formats Limit in the unit of the metric, as Name shows it:
// "200ms", "1%" or "100".
func (r Result) LimitText() string {
	switch r.Metric {
	case ErrorRate:
		return formatPercent(r.Limit)
	case MinRPS:
		return formatNumber(r.Limit)
	}
	return fromMillis(r.Limit).String()
}

// String formats r as its name and value, such as "p95 <= 200ms (was
// 350.234ms)", or "home: p95 <= 100ms (no requests)" for a limit that
// measured nothing.
func (r Result) String() string {
	if r.unmeasured() {
		return r.Name + " (no requests)"
	}
	return r.Name + " (was " + r.ValueText() + ")"
}

// ValueText formats Value in the unit of the metric: "350.234ms", "2.5%"
// or "1523.46" requests per second, and "no requests" for a latency or
// error rate measured on no request. A value is rounded for reading,
// except where rounding would make a failed limit look like it held.
func (r Result) ValueText() string {
	if r.unmeasured() {
		return "no requests"
	}
	var rounded, exact string
	switch r.Metric {
	case ErrorRate:
		rounded = formatPercent(r.Value)
		exact = strconv.FormatFloat(100*r.Value, 'f', -1, 64) + "%"
	case MinRPS:
		rounded = formatNumber(r.Value)
		exact = strconv.FormatFloat(r.Value, 'f', -1, 64)
	default:
		d := fromMillis(r.Value)
		rounded = roundLatency(d).String()
		exact = d.String()
	}
	if !r.Passed && rounded == r.LimitText() {
		return exact
	}
	return rounded
}

// unmeasured reports whether r is a latency or error rate limit without
// requests, whose Value means nothing. A rate of 0 requests per second is
// a measured value.
func (r Result) unmeasured() bool {
	return r.Requests == 0 && r.Metric != MinRPS
}

// roundLatency rounds d to the microsecond below one second and to the
// millisecond above.
func roundLatency(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

// fromMillis converts milliseconds to a duration, to the nearest
// nanosecond.
func fromMillis(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}
