// Package threshold checks the statistics of a run against the limits
// that a plan sets under thresholds, for the whole run and per task.
//
// Check compares every limit and serves the end of a run. CheckEarly
// compares only the limits that a run can fail while it goes on, so that a
// coordinator can stop a run that already failed them. The package has no
// state and needs no coordinator: the caller passes the figures in.
package threshold

import (
	"strconv"
	"time"

	"github.com/barrage-load/barrage/internal/plan"
)

// Metric names, spelled as the plan's threshold keys.
const (
	P50       = "p50"
	P90       = "p90"
	P95       = "p95"
	P99       = "p99"
	P999      = "p99.9"
	Max       = "max"
	Mean      = "mean"
	ErrorRate = "error_rate"
	MinRPS    = "min_rps"
)

// Figures are the statistics of a whole run or of one task that
// thresholds limit.
type Figures struct {
	// Requests is the number of requests the other figures are based on.
	Requests uint64
	// P50 to Mean are latency percentiles, the maximum and the mean.
	P50, P90, P95, P99, P999, Max, Mean time.Duration
	// ErrorRate is failures over requests, from 0 to 1.
	ErrorRate float64
	// RPS is requests per second over the whole run.
	RPS float64
}

// Result is the outcome of one limit.
type Result struct {
	// Name is the limit written as the condition it requires, such as
	// "p95 <= 200ms", "error_rate <= 1%" or "rps >= 100", with the task
	// name in front for a task's limit: "home: p95 <= 100ms".
	Name string `json:"name"`
	// Task is the task the limit applies to, or empty for the whole run.
	Task string `json:"task"`
	// Metric is the plan key of the limit: p50, p90, p95, p99, p99.9, max,
	// mean, error_rate or min_rps.
	Metric string `json:"metric"`
	// Limit and Value are in milliseconds for latencies, a ratio from 0 to
	// 1 for error_rate, and requests per second for min_rps.
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	// Requests is the number of requests Value is based on.
	Requests uint64 `json:"requests"`
	// Passed is true when Value is within Limit, a value equal to the
	// limit included. A latency or error rate limit without requests
	// fails, because nothing was measured.
	Passed bool `json:"passed"`
}

// Group is the limits of the whole run or of one task.
type Group struct {
	// Task is the task name, or empty for the whole run.
	Task   string
	Limits plan.Thresholds
}

// Groups returns the groups of p that set at least one limit: the whole
// run first, then the tasks in plan order.
func Groups(p *plan.Plan) []Group {
	var groups []Group
	if p.Thresholds.HasLimits() {
		groups = append(groups, Group{Limits: p.Thresholds})
	}
	for _, t := range p.Tasks {
		if t.Thresholds.HasLimits() {
			groups = append(groups, Group{Task: t.Name, Limits: t.Thresholds})
		}
	}
	return groups
}

// Check compares f with every limit set in limits and returns one Result
// per limit, in the order of the Metric constants. task is the task name
// for a task's limits, or empty for the whole run.
func Check(limits plan.Thresholds, task string, f Figures) []Result {
	results := checkLatencies(limits, task, f)
	if limits.ErrorRate != nil {
		results = append(results, checkErrorRate(*limits.ErrorRate, task, f))
	}
	if limits.MinRPS > 0 {
		results = append(results, Result{
			Name:     name(task, "rps >= "+formatNumber(limits.MinRPS)),
			Task:     task,
			Metric:   MinRPS,
			Limit:    limits.MinRPS,
			Value:    f.RPS,
			Requests: f.Requests,
			Passed:   f.RPS >= limits.MinRPS,
		})
	}
	return results
}

// CheckEarly compares f with the latency and error rate limits only, for
// a check while the run goes on. It leaves out min_rps, because a run
// fails it while its users still start. It returns no results when f has
// no requests yet.
func CheckEarly(limits plan.Thresholds, task string, f Figures) []Result {
	if f.Requests == 0 {
		return nil
	}
	results := checkLatencies(limits, task, f)
	if limits.ErrorRate != nil {
		results = append(results, checkErrorRate(*limits.ErrorRate, task, f))
	}
	return results
}

// Failed returns the results that did not pass.
func Failed(results []Result) []Result {
	var failed []Result
	for _, r := range results {
		if !r.Passed {
			failed = append(failed, r)
		}
	}
	return failed
}

// checkLatencies compares every latency limit set in limits.
func checkLatencies(limits plan.Thresholds, task string, f Figures) []Result {
	pairs := []struct {
		metric string
		limit  time.Duration
		value  time.Duration
	}{
		{P50, limits.P50, f.P50},
		{P90, limits.P90, f.P90},
		{P95, limits.P95, f.P95},
		{P99, limits.P99, f.P99},
		{P999, limits.P999, f.P999},
		{Max, limits.Max, f.Max},
		{Mean, limits.Mean, f.Mean},
	}
	var results []Result
	for _, p := range pairs {
		if p.limit <= 0 {
			continue
		}
		results = append(results, Result{
			Name:     name(task, p.metric+" <= "+p.limit.String()),
			Task:     task,
			Metric:   p.metric,
			Limit:    millis(p.limit),
			Value:    millis(p.value),
			Requests: f.Requests,
			Passed:   f.Requests > 0 && p.value <= p.limit,
		})
	}
	return results
}

// checkErrorRate compares the error rate with limit, a ratio.
func checkErrorRate(limit float64, task string, f Figures) Result {
	return Result{
		Name:     name(task, "error_rate <= "+formatPercent(limit)),
		Task:     task,
		Metric:   ErrorRate,
		Limit:    limit,
		Value:    f.ErrorRate,
		Requests: f.Requests,
		Passed:   f.Requests > 0 && f.ErrorRate <= limit,
	}
}

// name puts the task name, if any, in front of a condition.
func name(task, condition string) string {
	if task == "" {
		return condition
	}
	return task + ": " + condition
}

// millis converts d to milliseconds.
func millis(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// formatNumber writes v with at most 6 significant digits and without an
// exponent: 100, 2.5, 1523.46.
func formatNumber(v float64) string {
	rounded, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	if err != nil {
		rounded = v
	}
	return strconv.FormatFloat(rounded, 'f', -1, 64)
}

// formatPercent writes a ratio as a percentage: 0.015 is "1.5%".
func formatPercent(ratio float64) string {
	return formatNumber(100*ratio) + "%"
}
