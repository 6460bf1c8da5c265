package plan

import (
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Thresholds are pass or fail limits on the statistics of a whole run or
// of one task. A zero latency or MinRPS and a nil ErrorRate mean that the
// limit is not set.
type Thresholds struct {
	// P50 to Mean are the highest latencies allowed for each percentile,
	// the maximum and the mean. A value equal to the limit passes.
	P50  time.Duration `json:"p50" msgpack:"p50"`
	P90  time.Duration `json:"p90" msgpack:"p90"`
	P95  time.Duration `json:"p95" msgpack:"p95"`
	P99  time.Duration `json:"p99" msgpack:"p99"`
	P999 time.Duration `json:"p99.9" msgpack:"p99.9"`
	Max  time.Duration `json:"max" msgpack:"max"`
	Mean time.Duration `json:"mean" msgpack:"mean"`
	// ErrorRate is the highest ratio of failures to requests allowed, from
	// 0 to 1. It is a pointer because 0, no failures at all, is a valid
	// limit.
	ErrorRate *float64 `json:"error_rate" msgpack:"error_rate"`
	// MinRPS is the lowest rate allowed, in requests per second over the
	// whole run.
	MinRPS float64 `json:"min_rps" msgpack:"min_rps"`
	// AbortOnFail is the switch that stops the run as soon as a latency or
	// error rate limit of the same group fails. It has no effect on MinRPS,
	// which is checked only at the end, nor on the limits of other groups.
	AbortOnFail bool `json:"abort_on_fail" msgpack:"abort_on_fail"`
}

// HasLimits reports whether t sets at least one limit. AbortOnFail is a
// switch, not a limit.
func (t Thresholds) HasLimits() bool {
	return t.P50 != 0 || t.P90 != 0 || t.P95 != 0 || t.P99 != 0 || t.P999 != 0 ||
		t.Max != 0 || t.Mean != 0 || t.ErrorRate != nil || t.MinRPS != 0
}

// thresholdKeys are the keys allowed in a thresholds mapping.
var thresholdKeys = []string{"p50", "p90", "p95", "p99", "p99.9", "max", "mean", "error_rate", "min_rps", "abort_on_fail"}

// thresholds reads the thresholds mapping v at path, which is
// "thresholds" or "tasks[2].thresholds".
func (d *decoder) thresholds(v *yaml.Node, path string) Thresholds {
	var t Thresholds
	if v.Kind == yaml.AliasNode {
		return t
	}
	if v.Kind != yaml.MappingNode {
		d.addf(v, path, "%s: thresholds must be a mapping with keys such as p95, error_rate and min_rps", invalid(v))
		return t
	}

	f := d.fields(v, path, thresholdKeys)
	latencies := []struct {
		key   string
		limit *time.Duration
	}{
		{"p50", &t.P50}, {"p90", &t.P90}, {"p95", &t.P95}, {"p99", &t.P99},
		{"p99.9", &t.P999}, {"max", &t.Max}, {"mean", &t.Mean},
	}
	for _, l := range latencies {
		if e, ok := f[l.key]; ok {
			*l.limit, _ = d.latencyLimit(e.value, path+"."+l.key)
		}
	}
	if e, ok := f["error_rate"]; ok {
		if rate, ok := d.errorRate(e.value, path+".error_rate"); ok {
			t.ErrorRate = &rate
		}
	}
	if e, ok := f["min_rps"]; ok {
		t.MinRPS, _ = d.rate(e.value, path+".min_rps", "100 or 2.5")
	}
	if e, ok := f["abort_on_fail"]; ok {
		t.AbortOnFail, _ = d.boolean(e.value, path+".abort_on_fail")
	}
	return t
}

// latencyLimit reads a latency limit, a Go duration greater than 0. A
// number without a unit gets a message that suggests milliseconds, the
// usual unit of a latency limit.
func (d *decoder) latencyLimit(v *yaml.Node, key string) (time.Duration, bool) {
	if v.Kind == yaml.ScalarNode && (v.ShortTag() == "!!int" || v.ShortTag() == "!!float") {
		d.addf(v, key, "%s: %s needs a unit; use a Go duration such as %sms or %ss",
			invalid(v), leaf(key), v.Value, v.Value)
		return 0, false
	}
	return d.duration(v, key)
}

// errorRate reads an error rate limit and returns it as a ratio from 0 to
// 1. It is either a percentage from 0% to 100%, such as 1% or 0.5%, or a
// plain number from 0 to 1, such as 0.01.
func (d *decoder) errorRate(v *yaml.Node, key string) (float64, bool) {
	label := leaf(key)
	rule := label + " must be a percentage such as 1% or 0.5%, or a ratio from 0 to 1 such as 0.01"
	if !d.scalar(v, key, rule) {
		return 0, false
	}

	switch v.ShortTag() {
	case "!!int", "!!float":
		var ratio float64
		if v.Decode(&ratio) != nil || math.IsNaN(ratio) {
			d.addf(v, key, "%s: %s", invalid(v), rule)
			return 0, false
		}
		if ratio < 0 {
			d.addf(v, key, "%s: %s must be from 0 to 1, or from 0%% to 100%%", invalid(v), label)
			return 0, false
		}
		if ratio > 1 {
			d.addf(v, key, "%s: %s as a plain number is a ratio from 0 to 1; write %s%% for a percentage",
				invalid(v), label, v.Value)
			return 0, false
		}
		return ratio, true
	case "!!str":
	default:
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}

	number, isPercent := strings.CutSuffix(strings.TrimSpace(v.Value), "%")
	percent, err := strconv.ParseFloat(strings.TrimSpace(number), 64)
	if !isPercent || err != nil || math.IsNaN(percent) {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return 0, false
	}
	if percent < 0 || percent > 100 {
		d.addf(v, key, "%s: %s must be from 0%% to 100%%", invalid(v), label)
		return 0, false
	}
	return percent / 100, true
}

// boolean reads true or false.
func (d *decoder) boolean(v *yaml.Node, key string) (bool, bool) {
	rule := leaf(key) + " must be true or false"
	if !d.scalar(v, key, rule) {
		return false, false
	}
	var b bool
	if v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
		d.addf(v, key, "%s: %s", invalid(v), rule)
		return false, false
	}
	return b, true
}
