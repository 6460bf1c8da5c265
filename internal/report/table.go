// Package report renders a run's statistics for people and tools: the
// final table, the live view on a terminal, CSV files and the HTML page.
package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/threshold"
)

// WriteTable prints the summary as a table: one row per task, with the
// rows of a task's steps indented under it, a total row, then the grouped
// errors and the outcome of each threshold.
func WriteTable(w io.Writer, s *coordinator.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	writeTaskRows(tw, s.Tasks, coordinator.TaskSummary{
		Name: "total", Requests: s.Requests, Failures: s.Failures,
		RPS: s.RPS, LatencyMS: s.LatencyMS,
	})
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nrun %s: %s, %.1f s, %.2f%% failed", s.Run, plural(s.Workers, "worker"), s.DurationS, 100*s.FailureRate)
	if s.Lost > 0 {
		fmt.Fprintf(w, ", %s lost", plural(s.Lost, "worker"))
	}
	if !s.Complete {
		fmt.Fprintf(w, ", incomplete: %s", s.Problem)
	}
	fmt.Fprintln(w)
	for _, r := range s.Rejections {
		fmt.Fprintf(w, "worker %s rejected the run: %s\n", r.Worker, r.Reason)
	}
	writeOpenModel(w, s.ServiceMS, s.DroppedArrivals)
	if len(s.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  %8d  %s\n", e.Count, e.Message)
		}
	}
	return writeThresholds(w, s.Thresholds)
}

// writeOpenModel explains the latency of an open-model run, whose
// service time is set, and prints the service time and the dropped
// arrivals beside it. It writes nothing for a closed-model run.
func writeOpenModel(w io.Writer, service *coordinator.Latency, dropped uint64) {
	if service == nil && dropped == 0 {
		return
	}
	fmt.Fprintln(w, "latency counts from when each execution was due; service time from when its request was sent")
	if service != nil {
		fmt.Fprintf(w, "service ms: p50 %.2f  p90 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
			service.P50, service.P90, service.P95, service.P99, service.P999, service.Max)
	}
	if dropped > 0 {
		fmt.Fprintf(w, "dropped arrivals: %d, because every user was busy; raise users to run them\n", dropped)
	}
}

// writeThresholds lists each threshold with pass or FAIL, its value and
// its limit, and writes nothing when there are none.
func writeThresholds(w io.Writer, results []threshold.Result) error {
	if len(results) == 0 {
		return nil
	}
	failed := len(threshold.Failed(results))
	fmt.Fprintf(w, "\nthresholds: %d of %d failed\n", failed, len(results))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  result\tthreshold\tvalue\tlimit")
	for _, r := range results {
		outcome := "pass"
		if !r.Passed {
			outcome = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", outcome, r.Name, r.ValueText(), r.LimitText())
	}
	return tw.Flush()
}

// writeTaskRows writes the header, one row per task followed by a row per
// step of a task with steps, and the total row to a tabwriter with
// right-aligned cells. Names are padded so that they align left and step
// names show indented under their task.
func writeTaskRows(tw *tabwriter.Writer, tasks []coordinator.TaskSummary, total coordinator.TaskSummary) {
	const stepIndent = "  "
	width := max(len("task"), len(total.Name))
	for _, t := range tasks {
		width = max(width, len(t.Name))
		for _, s := range t.Steps {
			width = max(width, len(stepIndent)+len(s.Name))
		}
	}
	fmt.Fprintf(tw, "%-*s\trequests\tfailures\trps\tp50 ms\tp90 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\t\n", width, "task")
	row := func(name string, t coordinator.TaskSummary) {
		l := t.LatencyMS
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			width, name, t.Requests, t.Failures, t.RPS, l.P50, l.P90, l.P95, l.P99, l.P999, l.Max)
	}
	for _, t := range tasks {
		row(t.Name, t)
		for _, s := range t.Steps {
			row(stepIndent+s.Name, s)
		}
	}
	row(total.Name, total)
}

// plural returns "1 worker" or "3 workers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
