// Package stats holds per-task request statistics: counts, bytes, grouped
// error messages and a latency histogram, all mergeable across workers.
package stats

import (
	"sort"

	"github.com/barrage-load/barrage/internal/histogram"
)

// MaxErrors is how many distinct error messages a Task keeps. Further
// messages are counted under OtherErrors.
const MaxErrors = 50

// OtherErrors is the message that counts errors past MaxErrors.
const OtherErrors = "other"

// Task is the statistics of one task, or of one step of a task with
// steps, over some span of time. The zero value is empty and ready to use.
// A Task is not safe for concurrent use.
type Task struct {
	Name     string              `msgpack:"n"`
	Requests uint64              `msgpack:"r"`
	Failures uint64              `msgpack:"f"`
	Bytes    uint64              `msgpack:"b"`
	Latency  histogram.Histogram `msgpack:"l"`
	// Service records how long the target took to respond to each
	// request in an open-model plan, where Latency counts from when the
	// execution was due. It is empty in a closed-model plan.
	Service histogram.Histogram `msgpack:"sv"`
	Errors  map[string]uint64   `msgpack:"e,omitempty"`

	// Step is the name of the step within task Name, or empty for the
	// statistics of a whole task.
	Step string `msgpack:"s,omitempty"`
}

// RecordError counts one occurrence of msg, grouping past MaxErrors.
func (t *Task) RecordError(msg string) { t.addError(msg, 1) }

func (t *Task) addError(msg string, n uint64) {
	if t.Errors == nil {
		t.Errors = make(map[string]uint64)
	}
	if _, ok := t.Errors[msg]; !ok && len(t.Errors) >= MaxErrors {
		msg = OtherErrors
	}
	t.Errors[msg] += n
}

// Merge adds o's counts to t. Names and steps are not compared.
func (t *Task) Merge(o *Task) {
	t.Requests += o.Requests
	t.Failures += o.Failures
	t.Bytes += o.Bytes
	t.Latency.Merge(&o.Latency)
	t.Service.Merge(&o.Service)
	for msg, n := range o.Errors {
		t.addError(msg, n)
	}
}

// Reset empties t and keeps its names and allocations.
func (t *Task) Reset() {
	t.Requests, t.Failures, t.Bytes = 0, 0, 0
	t.Latency.Reset()
	t.Service.Reset()
	clear(t.Errors)
}

// ErrorCount is one grouped error message.
type ErrorCount struct {
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// SortedErrors returns errors by count, highest first, then by message.
func SortedErrors(errs map[string]uint64) []ErrorCount {
	out := make([]ErrorCount, 0, len(errs))
	for msg, n := range errs {
		out = append(out, ErrorCount{Message: msg, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Message < out[j].Message
	})
	return out
}
