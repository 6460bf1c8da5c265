package coordinator

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints the summary as a table: one row per task, a total row,
// then the grouped errors.
func WriteTable(w io.Writer, s *Summary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "task\trequests\tfailures\trps\tp50 ms\tp90 ms\tp95 ms\tp99 ms\tmax ms\t")
	row := func(name string, requests, failures uint64, rps float64, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			name, requests, failures, rps, l.P50, l.P90, l.P95, l.P99, l.Max)
	}
	for _, t := range s.Tasks {
		row(t.Name, t.Requests, t.Failures, t.RPS, t.LatencyMS)
	}
	row("total", s.Requests, s.Failures, s.RPS, s.LatencyMS)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nrun %s: %d workers, %.1f s", s.Run, s.Workers, s.DurationS)
	if !s.Complete {
		fmt.Fprintf(w, ", incomplete: %s", s.Problem)
	}
	fmt.Fprintln(w)
	if len(s.Errors) > 0 {
		fmt.Fprintln(w, "\nerrors:")
		for _, e := range s.Errors {
			fmt.Fprintf(w, "  %8d  %s\n", e.Count, e.Message)
		}
	}
	return nil
}
