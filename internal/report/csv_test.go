package report_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/report"
	"github.com/barrage-load/barrage/internal/stats"
)

// awkwardMessage needs quoting in CSV: a comma, a newline and a quote.
const awkwardMessage = "dial tcp 127.0.0.1:1: connect, refused\nsecond line \"quoted\""

func testSummary() *coordinator.Summary {
	return &coordinator.Summary{
		Run:         "shop-abc123",
		Requests:    1500,
		Failures:    30,
		FailureRate: 0.02,
		Bytes:       123456,
		RPS:         100.5,
		LatencyMS:   coordinator.Latency{P50: 1.5, P90: 4, P95: 5.25, P99: 9.125, P999: 20, Max: 31.7, Mean: 2.2},
		Tasks: []coordinator.TaskSummary{
			{
				Name: "home", Requests: 1000, Failures: 0, FailureRate: 0, Bytes: 100000, RPS: 200.0 / 3,
				LatencyMS: coordinator.Latency{P50: 1.25, P90: 3, P95: 4, P99: 8, P999: 15, Max: 20.5, Mean: 1.9},
			},
			{
				Name: "missing", Requests: 500, Failures: 30, FailureRate: 0.06, Bytes: 23456, RPS: 33.5,
				LatencyMS: coordinator.Latency{P50: 2, P90: 5, P95: 6.5, P99: 10, P999: 25, Max: 31.7, Mean: 2.8},
			},
		},
		Errors: []stats.ErrorCount{
			{Message: "HTTP 404", Count: 25},
			{Message: awkwardMessage, Count: 5},
		},
	}
}

// testSnapshot returns the snapshot of one report interval with two tasks.
func testSnapshot(state string, elapsed float64, requests uint64) coordinator.Snapshot {
	return coordinator.Snapshot{
		Live: coordinator.Live{
			Run: "shop-abc123", State: state, ElapsedS: elapsed, Users: 40, Workers: 2,
			Requests: 10 * requests,
			Interval: coordinator.Interval{
				Seconds: 2, Requests: requests, Failures: 4, FailureRate: 4 / float64(requests),
				RPS:       float64(requests) / 2,
				LatencyMS: coordinator.Latency{P50: 1.5, P95: 6.25, P99: 9, Max: 12.125},
			},
		},
		IntervalTasks: []coordinator.TaskSummary{
			{
				Name: "home", Requests: requests - 10, Failures: 0, RPS: float64(requests-10) / 2,
				LatencyMS: coordinator.Latency{P50: 1.25, P95: 5, P99: 8, Max: 11},
			},
			{
				Name: "missing", Requests: 10, Failures: 4, FailureRate: 0.4, RPS: 5,
				LatencyMS: coordinator.Latency{P50: 2, P95: 6.5, P99: 9, Max: 12.125},
			},
		},
	}
}

func readCSV(t *testing.T, r io.Reader) [][]string {
	t.Helper()
	records, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatalf("parse csv: %v", err)
	}
	return records
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readCSV(t, f)
}

// checkRow compares a record with the expected cells, parsing numbers so
// that 4 and 4.0 compare equal.
func checkRow(t *testing.T, got []string, want ...any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("row %q: %d cells, want %d", got, len(got), len(want))
	}
	for i, w := range want {
		switch w := w.(type) {
		case string:
			if got[i] != w {
				t.Errorf("row %q cell %d: got %q, want %q", got[0], i, got[i], w)
			}
		case float64:
			v, err := strconv.ParseFloat(got[i], 64)
			if err != nil || v != w {
				t.Errorf("row %q cell %d: got %q, want %v", got[0], i, got[i], w)
			}
		case int:
			v, err := strconv.ParseUint(got[i], 10, 64)
			if err != nil || v != uint64(w) {
				t.Errorf("row %q cell %d: got %q, want %d", got[0], i, got[i], w)
			}
		default:
			t.Fatalf("unsupported expected cell type %T", w)
		}
	}
}

func TestWriteStatsCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteStatsCSV(&buf, testSummary()); err != nil {
		t.Fatal(err)
	}
	records := readCSV(t, &buf)

	wantHeader := []string{
		"name", "requests", "failures", "failure_rate", "bytes", "rps",
		"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms",
		"step",
	}
	if !slices.Equal(records[0], wantHeader) {
		t.Errorf("header = %q, want %q", records[0], wantHeader)
	}
	if len(records) != 4 {
		t.Fatalf("%d records, want a header, 2 tasks and a total", len(records))
	}
	checkRow(t, records[1], "home", 1000, 0, 0.0, 100000, "66.667", 1.25, 3.0, 4.0, 8.0, 15.0, 20.5, 1.9, "")
	checkRow(t, records[2], "missing", 500, 30, 0.06, 23456, 33.5, 2.0, 5.0, 6.5, 10.0, 25.0, 31.7, 2.8, "")
	checkRow(t, records[3], "total", 1500, 30, 0.02, 123456, 100.5, 1.5, 4.0, 5.25, 9.125, 20.0, 31.7, 2.2, "")
}

func TestWriteStatsCSVListsSteps(t *testing.T) {
	s := testSummary()
	s.Tasks[1].Steps = []coordinator.TaskSummary{
		{
			Name: "login", Requests: 300, Failures: 0, Bytes: 3000, RPS: 20,
			LatencyMS: coordinator.Latency{P50: 1, P90: 2, P95: 3, P99: 4, P999: 5, Max: 6, Mean: 1.5},
		},
		{
			Name: "profile", Requests: 200, Failures: 30, FailureRate: 0.15, Bytes: 20456, RPS: 13.5,
			LatencyMS: coordinator.Latency{P50: 2, P90: 5, P95: 6.5, P99: 10, P999: 25, Max: 31.7, Mean: 3},
		},
	}
	var buf bytes.Buffer
	if err := report.WriteStatsCSV(&buf, s); err != nil {
		t.Fatal(err)
	}
	records := readCSV(t, &buf)

	if len(records) != 6 {
		t.Fatalf("%d records, want a header, 2 tasks, 2 steps and a total", len(records))
	}
	checkRow(t, records[2], "missing", 500, 30, 0.06, 23456, 33.5, 2.0, 5.0, 6.5, 10.0, 25.0, 31.7, 2.8, "")
	checkRow(t, records[3], "missing", 300, 0, 0.0, 3000, 20.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.5, "login")
	checkRow(t, records[4], "missing", 200, 30, 0.15, 20456, 13.5, 2.0, 5.0, 6.5, 10.0, 25.0, 31.7, 3.0, "profile")
	checkRow(t, records[5], "total", 1500, 30, 0.02, 123456, 100.5, 1.5, 4.0, 5.25, 9.125, 20.0, 31.7, 2.2, "")
}

func TestWriteErrorsCSVQuotesMessages(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteErrorsCSV(&buf, testSummary()); err != nil {
		t.Fatal(err)
	}
	records := readCSV(t, &buf)

	if !slices.Equal(records[0], []string{"message", "count"}) {
		t.Errorf("header = %q", records[0])
	}
	if len(records) != 3 {
		t.Fatalf("%d records, want a header and 2 errors", len(records))
	}
	checkRow(t, records[1], "HTTP 404", 25)
	checkRow(t, records[2], awkwardMessage, 5)
}

func TestWriteErrorsCSVWithoutErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := report.WriteErrorsCSV(&buf, &coordinator.Summary{}); err != nil {
		t.Fatal(err)
	}
	records := readCSV(t, &buf)
	if len(records) != 1 {
		t.Errorf("%d records, want only the header", len(records))
	}
}

func TestCSVHistoryAppend(t *testing.T) {
	var buf bytes.Buffer
	h, err := report.NewCSVHistory(&buf)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	tick := start
	h.Now = func() time.Time { return tick }

	if err := h.Append(testSnapshot("waiting", 0, 100)); err != nil {
		t.Fatal(err)
	}
	tick = start.Add(2 * time.Second)
	if err := h.Append(testSnapshot("running", 2, 100)); err != nil {
		t.Fatal(err)
	}
	// Each Append flushes, so the rows are in buf before Close.
	records := readCSV(t, bytes.NewReader(buf.Bytes()))
	if len(records) != 4 {
		t.Fatalf("after the first interval: %d records, want a header and 3 rows", len(records))
	}

	tick = start.Add(4500 * time.Millisecond)
	if err := h.Append(testSnapshot("stopping", 4.5000000001, 60)); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	records = readCSV(t, &buf)

	wantHeader := []string{
		"time", "elapsed_s", "name", "users", "workers", "requests", "failures",
		"failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "max_ms",
	}
	if !slices.Equal(records[0], wantHeader) {
		t.Errorf("header = %q, want %q", records[0], wantHeader)
	}
	if len(records) != 7 {
		t.Fatalf("%d records, want a header and 3 rows for each of 2 intervals", len(records))
	}
	checkRow(t, records[1], "2026-03-01T11:00:02.000Z", 2.0, "total", 40, 2, 100, 4, 0.04, 50.0, 1.5, 6.25, 9.0, 12.125)
	checkRow(t, records[2], "2026-03-01T11:00:02.000Z", 2.0, "home", 40, 2, 90, 0, 0.0, 45.0, 1.25, 5.0, 8.0, 11.0)
	checkRow(t, records[3], "2026-03-01T11:00:02.000Z", 2.0, "missing", 40, 2, 10, 4, 0.4, 5.0, 2.0, 6.5, 9.0, 12.125)
	checkRow(t, records[4], "2026-03-01T11:00:04.500Z", "4.5", "total", 40, 2, 60, 4, "0.066667", 30.0, 1.5, 6.25, 9.0, 12.125)
	checkRow(t, records[5], "2026-03-01T11:00:04.500Z", 4.5, "home", 40, 2, 50, 0, 0.0, 25.0, 1.25, 5.0, 8.0, 11.0)
	checkRow(t, records[6], "2026-03-01T11:00:04.500Z", 4.5, "missing", 40, 2, 10, 4, 0.4, 5.0, 2.0, 6.5, 9.0, 12.125)

	for _, r := range records[1:] {
		if _, err := time.Parse(time.RFC3339, r[0]); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", r[0], err)
		}
	}
}

func TestCSVHistoryAppendAfterClose(t *testing.T) {
	h, err := report.NewCSVHistory(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := h.Append(testSnapshot("running", 2, 100)); err == nil {
		t.Error("Append after Close returned no error")
	}
}

func TestCSVReportWritesThreeFiles(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "run")
	r, err := report.CreateCSVReport(prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Before the run, each file contains only its header.
	for _, suffix := range []string{"_stats.csv", "_history.csv", "_errors.csv"} {
		if n := len(readCSVFile(t, prefix+suffix)); n != 1 {
			t.Errorf("%s before the run: %d records, want only the header", suffix, n)
		}
	}

	if err := r.Append(testSnapshot("running", 2, 100)); err != nil {
		t.Fatal(err)
	}
	// The history is on disk before Finish, as after a crash.
	if n := len(readCSVFile(t, prefix+"_history.csv")); n != 4 {
		t.Errorf("history before Finish: %d records, want 4", n)
	}
	if err := r.Finish(testSummary()); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close after Finish: %v", err)
	}

	if n := len(readCSVFile(t, prefix+"_stats.csv")); n != 4 {
		t.Errorf("stats: %d records, want 4", n)
	}
	if n := len(readCSVFile(t, prefix+"_history.csv")); n != 4 {
		t.Errorf("history: %d records, want 4", n)
	}
	errs := readCSVFile(t, prefix+"_errors.csv")
	if len(errs) != 3 {
		t.Fatalf("errors: %d records, want 3", len(errs))
	}
	if errs[2][0] != awkwardMessage {
		t.Errorf("error message = %q, want %q", errs[2][0], awkwardMessage)
	}
}

func TestCreateCSVReportInMissingDirectory(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "missing", "run")
	_, err := report.CreateCSVReport(prefix)
	if err == nil {
		t.Fatal("no error for a prefix in a missing directory")
	}
	if !strings.Contains(err.Error(), prefix) {
		t.Errorf("error %q does not name the path", err)
	}
}

func TestCSVReportFinishInRemovedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := report.CreateCSVReport(filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	err = r.Finish(testSummary())
	if err == nil {
		t.Fatal("Finish returned no error after its directory was removed")
	}
	for _, name := range []string{"run_stats.csv", "run_errors.csv"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
