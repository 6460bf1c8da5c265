package coordinator

import (
	"time"

	"github.com/barrage-load/barrage/internal/histogram"
	"github.com/barrage-load/barrage/internal/stats"
	"github.com/barrage-load/barrage/internal/threshold"
)

// Latency holds percentiles, the mean and the maximum, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99.9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// TaskSummary is the statistics of one task, or of one step of a task.
type TaskSummary struct {
	Name        string  `json:"name"`
	Requests    uint64  `json:"requests"`
	Failures    uint64  `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
	Bytes       uint64  `json:"bytes"`
	RPS         float64 `json:"rps"`
	LatencyMS   Latency `json:"latency_ms"`
	// ServiceMS is set in an open-model run, where LatencyMS counts from
	// when each execution was due. It is the time the target took to
	// respond.
	ServiceMS *Latency `json:"service_ms,omitempty"`
	// Steps are the statistics of each step of a task with steps, in plan
	// order, named after the steps. The task's figures are their merge.
	// It is nil for a task without steps and for a step.
	Steps []TaskSummary `json:"steps,omitempty"`
}

// Summary is the final result of a run, written by --out and published on
// stats.<run>.final.
type Summary struct {
	Run       string    `json:"run"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	DurationS float64   `json:"duration_s"`
	Requests  uint64    `json:"requests"`
	Failures  uint64    `json:"failures"`
	// FailureRate is Failures over Requests, from 0 to 1.
	FailureRate float64 `json:"failure_rate"`
	Bytes       uint64  `json:"bytes"`
	RPS         float64 `json:"rps"`
	LatencyMS   Latency `json:"latency_ms"`
	// ServiceMS is set in an open-model run; see TaskSummary.
	ServiceMS *Latency `json:"service_ms,omitempty"`
	// DroppedArrivals counts the open-model arrivals that were not run
	// because every user was busy; raising users lets them run.
	DroppedArrivals uint64             `json:"dropped_arrivals"`
	Tasks           []TaskSummary      `json:"tasks"`
	Errors          []stats.ErrorCount `json:"errors"`
	Workers         int                `json:"workers"`
	// Lost counts workers that left without a final report; the requests
	// they sent after their last report are missing from the totals.
	Lost int `json:"workers_lost"`
	// Rejections lists the workers that rejected the run, such as a
	// worker whose --allow-target excludes the plan's target.
	Rejections []Rejection `json:"rejections,omitempty"`
	// RejectedMessages counts the messages the coordinator dropped as
	// malformed or foreign: reports, requests for iterations and worker
	// presences. Such messages never change the totals.
	RejectedMessages uint64 `json:"rejected_messages"`
	// Complete is false when the run was stopped by a signal or a failed
	// threshold, or some workers never sent their final report.
	Complete bool `json:"complete"`
	// Problem is the reason the run is incomplete.
	Problem string `json:"problem,omitempty"`
	// Thresholds is the outcome of every limit the plan sets, those of the
	// whole run first, then those of each task in plan order. It is empty
	// when the plan sets none.
	Thresholds []threshold.Result `json:"thresholds"`
	// ThresholdsPassed is false when a threshold failed, and true when all
	// passed or the plan sets none.
	ThresholdsPassed bool `json:"thresholds_passed"`
	// History is the fleet's statistics per report interval.
	History []Point `json:"history"`
}

// Rejection is a worker that rejected the run, and why.
type Rejection struct {
	Worker string `json:"worker"`
	Reason string `json:"reason"`
}

// Point is the fleet's statistics over one report interval, for charts
// and the CSV history.
type Point struct {
	Time        time.Time `json:"time"`
	ElapsedS    float64   `json:"elapsed_s"`
	Users       int       `json:"users"`
	Workers     int       `json:"workers"`
	Requests    uint64    `json:"requests"`
	Failures    uint64    `json:"failures"`
	FailureRate float64   `json:"failure_rate"`
	RPS         float64   `json:"rps"`
	LatencyMS   Latency   `json:"latency_ms"`
	// DroppedArrivals counts the open-model arrivals dropped in the
	// interval.
	DroppedArrivals uint64 `json:"dropped_arrivals"`
}

// Live is published on stats.<run>.summary every report interval. Totals
// count from the start; Interval covers the last report interval.
type Live struct {
	Run      string  `json:"run"`
	State    string  `json:"state"`
	ElapsedS float64 `json:"elapsed_s"`
	Users    int     `json:"users"`
	Workers  int     `json:"workers"`
	Requests uint64  `json:"requests"`
	Failures uint64  `json:"failures"`
	// FailureRate is Failures over Requests since the start.
	FailureRate float64 `json:"failure_rate"`
	Bytes       uint64  `json:"bytes"`
	RPS         float64 `json:"rps"`
	LatencyMS   Latency `json:"latency_ms"`
	// ServiceMS is set in an open-model run; see TaskSummary.
	ServiceMS *Latency `json:"service_ms,omitempty"`
	// DroppedArrivals counts the open-model arrivals dropped since the
	// start.
	DroppedArrivals uint64   `json:"dropped_arrivals"`
	Interval        Interval `json:"interval"`
	// Progress is the part of the run done, from 0 to 1: elapsed time over
	// the duration, or iterations granted over the plan's iterations.
	Progress float64 `json:"progress"`
}

// Interval is the fleet's statistics over one report interval.
type Interval struct {
	Seconds     float64 `json:"seconds"`
	Requests    uint64  `json:"requests"`
	Failures    uint64  `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
	Bytes       uint64  `json:"bytes"`
	RPS         float64 `json:"rps"`
	LatencyMS   Latency `json:"latency_ms"`
	// ServiceMS is set in an open-model run; see TaskSummary.
	ServiceMS *Latency `json:"service_ms,omitempty"`
	// DroppedArrivals counts the open-model arrivals dropped in the
	// interval.
	DroppedArrivals uint64 `json:"dropped_arrivals"`
}

// Snapshot is the argument of Config.OnLive every report interval: the
// live summary, each task's totals since the start, and each task's figures
// over the last interval.
type Snapshot struct {
	Live          Live
	Tasks         []TaskSummary
	IntervalTasks []TaskSummary
}

// LiveTasks is published on stats.<run>.tasks: each task's totals, with
// the request rate of the last interval.
type LiveTasks struct {
	Run      string        `json:"run"`
	ElapsedS float64       `json:"elapsed_s"`
	Tasks    []TaskSummary `json:"tasks"`
}

// LiveWorkers is published on stats.<run>.workers.
type LiveWorkers struct {
	Run     string       `json:"run"`
	Workers []WorkerView `json:"workers"`
}

// WorkerView is the coordinator's view of one worker.
type WorkerView struct {
	ID    string `json:"id"`
	Users int    `json:"users"`
	// Shares lists the indexes of the shares the worker holds.
	Shares []int  `json:"shares"`
	State  string `json:"state"`
	// LastReportAgeS is the age of the worker's last report in seconds,
	// or -1 before its first report.
	LastReportAgeS float64 `json:"last_report_age_s"`
}

func latencyOf(h *histogram.Histogram) Latency {
	return Latency{
		P50:  millis(h.Quantile(0.50)),
		P90:  millis(h.Quantile(0.90)),
		P95:  millis(h.Quantile(0.95)),
		P99:  millis(h.Quantile(0.99)),
		P999: millis(h.Quantile(0.999)),
		Max:  millis(h.Max()),
		Mean: millis(h.Mean()),
	}
}

// serviceOf returns the service-time figures of h, or nil when h is empty
// because the run is a closed model.
func serviceOf(h *histogram.Histogram) *Latency {
	if h.Count() == 0 {
		return nil
	}
	l := latencyOf(h)
	return &l
}

// failureRate returns failures over requests, 0 without requests.
func failureRate(failures, requests uint64) float64 {
	if requests == 0 {
		return 0
	}
	return float64(failures) / float64(requests)
}

func millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

func rate(n uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// summarize builds per-task summaries and their sum, with rates over
// seconds.
func summarize(tasks []stats.Task, seconds float64) (all stats.Task, out []TaskSummary) {
	out = make([]TaskSummary, 0, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		all.Merge(t)
		out = append(out, TaskSummary{
			Name:        t.Name,
			Requests:    t.Requests,
			Failures:    t.Failures,
			FailureRate: failureRate(t.Failures, t.Requests),
			Bytes:       t.Bytes,
			RPS:         rate(t.Requests, seconds),
			LatencyMS:   latencyOf(&t.Latency),
			ServiceMS:   serviceOf(&t.Service),
		})
	}
	return all, out
}

// addSteps sets the Steps of each summary of a task with steps, from
// steps indexed like summaries, with rates over seconds.
func addSteps(summaries []TaskSummary, steps [][]stats.Task, seconds float64) {
	for i := range summaries {
		if steps[i] != nil {
			_, summaries[i].Steps = summarize(steps[i], seconds)
		}
	}
}
