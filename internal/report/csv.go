package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
)

// Suffixes that CSVReport appends to its prefix.
const (
	StatsCSVSuffix   = "_stats.csv"
	HistoryCSVSuffix = "_history.csv"
	ErrorsCSVSuffix  = "_errors.csv"
)

// TotalName is the name column of the rows that sum all tasks.
const TotalName = "total"

var (
	statsHeader = []string{
		"name", "requests", "failures", "failure_rate", "bytes", "rps",
		"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms",
		"step",
	}
	historyHeader = []string{
		"time", "elapsed_s", "name", "users", "workers", "requests", "failures",
		"failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms",
	}
	errorsHeader = []string{"message", "count"}
)

// CSVReport writes a run's statistics to three CSV files that share a
// prefix: PREFIX_history.csv row by row during the run, PREFIX_stats.csv
// and PREFIX_errors.csv at the end. It is not safe for concurrent use.
type CSVReport struct {
	prefix  string
	history *CSVHistory
}

// CreateCSVReport creates or truncates the three files and writes their
// headers. Called before the run, it makes a path that cannot be written
// fail early, and leaves header-only files if the run crashes. The caller
// must call Close.
func CreateCSVReport(prefix string) (*CSVReport, error) {
	headers := map[string][]string{StatsCSVSuffix: statsHeader, ErrorsCSVSuffix: errorsHeader}
	for suffix, header := range headers {
		if err := writeCSVHeader(prefix+suffix, header); err != nil {
			return nil, err
		}
	}
	f, err := os.Create(prefix + HistoryCSVSuffix)
	if err != nil {
		return nil, fmt.Errorf("create CSV file: %w", err)
	}
	h, err := NewCSVHistory(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", f.Name(), err)
	}
	h.closer = f
	return &CSVReport{prefix: prefix, history: h}, nil
}

// Append writes the rows of one report interval to PREFIX_history.csv and
// flushes them. See CSVHistory.Append.
func (r *CSVReport) Append(s coordinator.Snapshot) error {
	return r.history.Append(s)
}

// Finish writes PREFIX_stats.csv and PREFIX_errors.csv from the final
// summary and closes PREFIX_history.csv. It tries all three and returns
// their errors joined.
func (r *CSVReport) Finish(s *coordinator.Summary) error {
	statsErr := writeCSVFile(r.prefix+StatsCSVSuffix, func(w io.Writer) error {
		return WriteStatsCSV(w, s)
	})
	errorsErr := writeCSVFile(r.prefix+ErrorsCSVSuffix, func(w io.Writer) error {
		return WriteErrorsCSV(w, s)
	})
	return errors.Join(statsErr, errorsErr, r.Close())
}

// Close flushes and closes PREFIX_history.csv. It is safe to call twice.
func (r *CSVReport) Close() error {
	return r.history.Close()
}

func writeCSVHeader(path string, header []string) error {
	return writeCSVFile(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(header)
		cw.Flush()
		return cw.Error()
	})
}

// writeCSVFile creates or truncates path and writes it with write.
func writeCSVFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create CSV file: %w", err)
	}
	err = write(f)
	if e := f.Close(); err == nil {
		err = e
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteStatsCSV writes a header, one row per task, each followed by one
// row per step of a task with steps, and a row named "total" with the
// fleet's figures. The step column is empty except on the rows of steps,
// whose name column is their task's. Latencies are in milliseconds,
// failure_rate is from 0 to 1 with 6 decimals, and rps is over the whole
// run with 3.
func WriteStatsCSV(w io.Writer, s *coordinator.Summary) error {
	cw := csv.NewWriter(w)
	cw.Write(statsHeader)
	for _, t := range s.Tasks {
		cw.Write(statsRow(t))
		for _, step := range t.Steps {
			cw.Write(stepRow(t.Name, step))
		}
	}
	cw.Write(statsRow(coordinator.TaskSummary{
		Name:        TotalName,
		Requests:    s.Requests,
		Failures:    s.Failures,
		FailureRate: s.FailureRate,
		Bytes:       s.Bytes,
		RPS:         s.RPS,
		LatencyMS:   s.LatencyMS,
	}))
	cw.Flush()
	return cw.Error()
}

func statsRow(t coordinator.TaskSummary) []string {
	l := t.LatencyMS
	return []string{
		t.Name, formatUint(t.Requests), formatUint(t.Failures),
		formatRatio(t.FailureRate), formatUint(t.Bytes), formatMilli(t.RPS),
		formatMilli(l.P50), formatMilli(l.P90), formatMilli(l.P95), formatMilli(l.P99),
		formatMilli(l.P999), formatMilli(l.Max), formatMilli(l.Mean),
		"",
	}
}

// stepRow returns the row of step s of the task called task.
func stepRow(task string, s coordinator.TaskSummary) []string {
	row := statsRow(s)
	row[0], row[len(row)-1] = task, s.Name
	return row
}

// WriteErrorsCSV writes a header and one row per grouped error message,
// summed over all tasks, in the summary's order.
func WriteErrorsCSV(w io.Writer, s *coordinator.Summary) error {
	cw := csv.NewWriter(w)
	cw.Write(errorsHeader)
	for _, e := range s.Errors {
		cw.Write([]string{e.Message, formatUint(e.Count)})
	}
	cw.Flush()
	return cw.Error()
}

// CSVHistory writes one row per report interval for the fleet, named
// "total", and one per task. Time and elapsed_s mark the end of the
// interval, and users and workers are the fleet's counts then, repeated on
// the task rows. The other columns cover only that interval. Rows are flushed as they are appended, so memory stays flat and a run
// that crashes leaves the history up to its last interval. It is not safe
// for concurrent use.
type CSVHistory struct {
	w      *csv.Writer
	closer io.Closer // the file CreateCSVReport opened, or nil
	closed bool
	// Now returns the time written in the time column; nil means
	// time.Now. Append is called when the interval ends, so the default
	// is that moment.
	Now func() time.Time
}

// NewCSVHistory writes the header to w and returns a history that appends
// to it. Close does not close w.
func NewCSVHistory(w io.Writer) (*CSVHistory, error) {
	cw := csv.NewWriter(w)
	cw.Write(historyHeader)
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return &CSVHistory{w: cw}, nil
}

// Append writes the rows of one report interval and flushes them. It skips
// snapshots taken while the run waits for workers, as Summary.History
// does.
func (h *CSVHistory) Append(s coordinator.Snapshot) error {
	if h.closed {
		return errors.New("CSV history is closed")
	}
	l := s.Live
	if l.State == string(bus.RunWaiting) {
		return nil
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	stamp := now().UTC().Format(rfc3339Millis)
	row := func(t coordinator.TaskSummary) {
		lat := t.LatencyMS
		h.w.Write([]string{
			stamp, formatMilli(l.ElapsedS), t.Name,
			strconv.Itoa(l.Users), strconv.Itoa(l.Workers),
			formatUint(t.Requests), formatUint(t.Failures), formatRatio(t.FailureRate),
			formatMilli(t.RPS), formatMilli(lat.P50), formatMilli(lat.P95),
			formatMilli(lat.P99), formatMilli(lat.Max),
		})
	}

	row(coordinator.TaskSummary{
		Name:        TotalName,
		Requests:    l.Interval.Requests,
		Failures:    l.Interval.Failures,
		FailureRate: l.Interval.FailureRate,
		RPS:         l.Interval.RPS,
		LatencyMS:   l.Interval.LatencyMS,
	})
	for _, t := range s.IntervalTasks {
		row(t)
	}
	h.w.Flush()
	return h.w.Error()
}

// Close flushes the rows and closes the file that CreateCSVReport opened.
// It is safe to call twice.
func (h *CSVHistory) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	h.w.Flush()
	err := h.w.Error()
	if h.closer != nil {
		if e := h.closer.Close(); err == nil {
			err = e
		}
	}
	return err
}

// rfc3339Millis is RFC 3339 with milliseconds, because report intervals
// may be shorter than a second.
const rfc3339Millis = "2006-01-02T15:04:05.000Z07:00"

func formatUint(n uint64) string { return strconv.FormatUint(n, 10) }

// formatMilli rounds v to 3 decimals: microseconds for latencies in
// milliseconds, which the summary stores at that resolution, and
// milliseconds for seconds.
func formatMilli(v float64) string { return formatRounded(v, 1e3) }

// formatRatio rounds a ratio from 0 to 1 to 6 decimals.
func formatRatio(v float64) string { return formatRounded(v, 1e6) }

// formatRounded rounds v to a multiple of 1/scale and writes the shortest
// decimal for it, without trailing zeros.
func formatRounded(v, scale float64) string {
	return strconv.FormatFloat(math.Round(v*scale)/scale, 'f', -1, 64)
}
