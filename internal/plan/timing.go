package plan

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultGracefulStop is the graceful_stop of a plan that sets none.
const DefaultGracefulStop = 5 * time.Second

// ThinkTime is the pause of a user after each task execution, drawn
// uniformly from Min to Max inclusive. Min equals Max for a fixed pause,
// and the zero value means no pause.
type ThinkTime struct {
	Min time.Duration `json:"min" msgpack:"min"`
	Max time.Duration `json:"max" msgpack:"max"`
}

// thinkTimeRule describes the valid forms of a think_time value.
const thinkTimeRule = "a Go duration such as 500ms or a range min..max such as 100ms..1s"

// thinkTime reads a think_time value: a duration of 0 or more, or a range
// "min..max" of two such durations with min <= max.
func (d *decoder) thinkTime(v *yaml.Node, key string) ThinkTime {
	label := leaf(key)
	if !d.scalar(v, key, label+" must be "+thinkTimeRule) {
		return ThinkTime{}
	}
	if v.ShortTag() != "!!str" {
		if isZero(v) {
			return ThinkTime{}
		}
		d.addf(v, key, "%s: %s needs a unit; use %s", invalid(v), label, thinkTimeRule)
		return ThinkTime{}
	}

	low, high, isRange := strings.Cut(v.Value, "..")
	if !isRange {
		dur, _ := d.nonNegative(v, key, v.Value, label, thinkTimeRule)
		return ThinkTime{Min: dur, Max: dur}
	}
	lowDur, lowOK := d.nonNegative(v, key, low, label+" minimum", thinkTimeRule)
	highDur, highOK := d.nonNegative(v, key, high, label+" maximum", thinkTimeRule)
	if !lowOK || !highOK {
		return ThinkTime{}
	}
	if lowDur > highDur {
		d.addf(v, key, "%s: %s minimum %v is greater than its maximum %v; write the range as min..max, such as %v..%v",
			invalid(v), label, lowDur, highDur, highDur, lowDur)
		return ThinkTime{}
	}
	return ThinkTime{Min: lowDur, Max: highDur}
}

// gracefulStop reads graceful_stop, a duration of 0 or more.
func (d *decoder) gracefulStop(v *yaml.Node, key string) time.Duration {
	const rule = "a Go duration such as 5s, or 0s to fail requests still running at the end at once"
	if !d.scalar(v, key, key+" must be "+rule) {
		return DefaultGracefulStop
	}
	if v.ShortTag() != "!!str" {
		if isZero(v) {
			return 0
		}
		d.addf(v, key, "%s: %s needs a unit; use %s", invalid(v), key, rule)
		return DefaultGracefulStop
	}
	dur, ok := d.nonNegative(v, key, v.Value, key, rule)
	if !ok {
		return DefaultGracefulStop
	}
	return dur
}

// nonNegative parses s, all or part of the value v, as a Go duration of 0
// or more. label names s in messages, and rule states the valid forms of
// the whole value.
func (d *decoder) nonNegative(v *yaml.Node, key, s, label, rule string) (time.Duration, bool) {
	dur, err := time.ParseDuration(strings.TrimSpace(s))
	switch {
	case strings.TrimSpace(s) == "":
		d.addf(v, key, "%s: %s is missing; use %s", invalid(v), label, rule)
	case err != nil:
		d.addf(v, key, "%s: %s %q is not a Go duration; use %s", invalid(v), label, s, rule)
	case dur < 0:
		d.addf(v, key, "%s: %s must be 0 or more", invalid(v), label)
	default:
		return dur, true
	}
	return 0, false
}

// isZero reports whether v is the number 0 written without a unit, which
// is unambiguous as a duration.
func isZero(v *yaml.Node) bool {
	var f float64
	tag := v.ShortTag()
	return (tag == "!!int" || tag == "!!float") && v.Decode(&f) == nil && f == 0
}

// timing reads graceful_stop and the think_time of the plan and of each
// task in p.Tasks, which a task without a think_time of its own inherits
// from the plan. f contains the keys of the top-level mapping.
func (d *decoder) timing(f map[string]entry, p *Plan) {
	if e, ok := f["graceful_stop"]; ok {
		p.GracefulStop = d.gracefulStop(e.value, "graceful_stop")
	}
	if e, ok := f["think_time"]; ok {
		p.ThinkTime = d.thinkTime(e.value, "think_time")
		d.noOpenThinkTime(e, "think_time", p)
	}

	// tasks returns one Task per list item, or nil after a problem with
	// the list itself, which was already reported.
	e, ok := f["tasks"]
	if !ok || e.value.Kind != yaml.SequenceNode || len(e.value.Content) != len(p.Tasks) {
		return
	}
	for i, n := range e.value.Content {
		p.Tasks[i].ThinkTime = p.ThinkTime
		if n.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Kind == yaml.ScalarNode && n.Content[j].Value == "think_time" {
				key := fmt.Sprintf("tasks[%d].think_time", i)
				p.Tasks[i].ThinkTime = d.thinkTime(n.Content[j+1], key)
				d.noOpenThinkTime(entry{key: n.Content[j], value: n.Content[j+1]}, key, p)
				break
			}
		}
	}
}

// noOpenThinkTime records a problem when an open-model plan sets a think
// time at e, because the arrival rate alone sets the pace there.
func (d *decoder) noOpenThinkTime(e entry, key string, p *Plan) {
	if p.Rate > 0 {
		d.addf(e.key, key, "think_time does not apply to a plan with rate, where the arrival rate sets the pace and a pause would only hold a user; remove think_time or use users instead of rate")
	}
}
