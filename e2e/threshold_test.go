package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// slowDelay is how long the threshold target takes to respond on /slow.
const slowDelay = 300 * time.Millisecond

// thresholdOutcome is the thresholds part of the summary that
// `coordinator start --out` writes.
type thresholdOutcome struct {
	Thresholds []thresholdResult `json:"thresholds"`
	Passed     *bool             `json:"thresholds_passed"`
}

type thresholdResult struct {
	Name     string  `json:"name"`
	Task     string  `json:"task"`
	Metric   string  `json:"metric"`
	Limit    float64 `json:"limit"`
	Value    float64 `json:"value"`
	Requests uint64  `json:"requests"`
	Passed   bool    `json:"passed"`
}

func TestThresholdBreachFailsRun(t *testing.T) {
	t.Parallel()
	run := runThresholdPlan(t, "p95-breached", 2*time.Second, "/slow", "thresholds: {p95: 200ms}")

	if run.code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for a failed threshold", run.code)
	}
	if !strings.Contains(run.stderr, "threshold failed: p95 <= 200ms (was ") {
		t.Errorf("stderr does not name the failed p95 threshold:\n%s", run.stderr)
	}
	if !strings.Contains(run.stdout, "thresholds: 1 of 1 failed") {
		t.Errorf("stdout has no thresholds section with the failure:\n%s", run.stdout)
	}
	if !run.summary.Complete {
		t.Errorf("complete = false, problem %q; a threshold without abort_on_fail must not stop the run", run.summary.Problem)
	}

	// The histogram adds at most 0.39 %; the rest allows for scheduling
	// and loopback noise on a busy machine.
	p50 := run.summary.task(t, "slow").LatencyMS.P50
	allowed := 0.01*millis(slowDelay) + 20
	if math.Abs(p50-millis(slowDelay)) > allowed {
		t.Errorf("p50 of slow = %.3f ms, want %.0f ms within %.0f ms", p50, millis(slowDelay), allowed)
	}

	r := run.only(t)
	if r.Name != "p95 <= 200ms" || r.Metric != "p95" || r.Task != "" {
		t.Errorf("threshold = %+v, want p95 <= 200ms of the whole run", r)
	}
	if r.Passed {
		t.Errorf("threshold %s passed with value %.3f ms", r.Name, r.Value)
	}
	if r.Limit != 200 {
		t.Errorf("threshold limit = %v, want 200 ms", r.Limit)
	}
	if r.Value < millis(slowDelay)-allowed {
		t.Errorf("threshold value = %.3f ms, want at least the delay of about %.0f ms", r.Value, millis(slowDelay))
	}
	if r.Requests != run.summary.Requests {
		t.Errorf("threshold requests = %d, summary requests = %d", r.Requests, run.summary.Requests)
	}
	if run.outcome.Passed == nil || *run.outcome.Passed {
		t.Errorf("thresholds_passed = %v, want false", describePassed(run.outcome.Passed))
	}
}

func TestThresholdMetPassesRun(t *testing.T) {
	t.Parallel()
	run := runThresholdPlan(t, "p95-held", 2*time.Second, "/slow", "thresholds: {p95: 1s}")

	if run.code != 0 {
		t.Errorf("coordinator exit code = %d, want 0 when every threshold passed", run.code)
	}
	if strings.Contains(run.stderr, "threshold failed") {
		t.Errorf("stderr reports a failed threshold:\n%s", run.stderr)
	}
	if !strings.Contains(run.stdout, "thresholds: 0 of 1 failed") {
		t.Errorf("stdout has no thresholds section:\n%s", run.stdout)
	}
	if r := run.only(t); !r.Passed || r.Name != "p95 <= 1s" {
		t.Errorf("threshold = %+v, want p95 <= 1s passed", r)
	}
	if run.outcome.Passed == nil || !*run.outcome.Passed {
		t.Errorf("thresholds_passed = %v, want true", describePassed(run.outcome.Passed))
	}
}

func TestThresholdAbortStopsRunEarly(t *testing.T) {
	t.Parallel()
	const planned = 60 * time.Second
	run := runThresholdPlan(t, "error-rate-abort", planned, "/fail",
		"thresholds: {error_rate: 1%, abort_on_fail: true}")

	// The coordinator checks thresholds every report interval and then
	// waits for the final reports, which takes about a second here.
	t.Logf("coordinator exited after %s of a %s plan", run.took.Round(time.Millisecond), planned)
	if run.took > 15*time.Second {
		t.Errorf("coordinator ran %s, want a stop within a few seconds", run.took.Round(time.Millisecond))
	}
	if run.code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for an aborted run", run.code)
	}
	if run.summary.Complete {
		t.Error("complete = true for a run stopped by a threshold")
	}
	if !strings.Contains(run.summary.Problem, "aborted: threshold error_rate <= 1% breached") {
		t.Errorf("problem = %q, want it to name the breached threshold", run.summary.Problem)
	}
	if run.summary.DurationS >= 15 {
		t.Errorf("duration_s = %.1f, want a few seconds", run.summary.DurationS)
	}
	if !strings.Contains(run.stderr, "threshold failed: error_rate <= 1% (was 100%)") {
		t.Errorf("stderr does not name the failed error_rate threshold:\n%s", run.stderr)
	}
	if r := run.only(t); r.Passed || r.Value != 1 || r.Limit != 0.01 {
		t.Errorf("threshold = %+v, want error_rate failed with value 1 and limit 0.01", r)
	}
}

func TestThresholdMinRPSFailsAtEnd(t *testing.T) {
	t.Parallel()
	const planned = 2 * time.Second
	run := runThresholdPlan(t, "min-rps", planned, "/",
		"thresholds: {min_rps: 1000000, abort_on_fail: true}")

	if run.code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for a failed min_rps", run.code)
	}
	if !run.summary.Complete {
		t.Errorf("complete = false, problem %q; min_rps must not stop the run early", run.summary.Problem)
	}
	if run.summary.DurationS < planned.Seconds() {
		t.Errorf("duration_s = %.2f, want the full %s", run.summary.DurationS, planned)
	}
	if !strings.Contains(run.stderr, "threshold failed: rps >= 1000000 (was ") {
		t.Errorf("stderr does not name the failed min_rps threshold:\n%s", run.stderr)
	}
	r := run.only(t)
	if r.Passed || r.Metric != "min_rps" {
		t.Errorf("threshold = %+v, want min_rps failed", r)
	}
	if math.Abs(r.Value-run.summary.RPS) > 1e-9*run.summary.RPS {
		t.Errorf("threshold value = %v, summary rps = %v", r.Value, run.summary.RPS)
	}
}

// thresholdRun is the outcome of one coordinator run.
type thresholdRun struct {
	code    int
	took    time.Duration
	stdout  string
	stderr  string
	summary summary
	outcome thresholdOutcome
}

// runThresholdPlan runs a plan of duration with one task on path of a
// target, plus the thresholds line at the top level, with one worker
// process. The target delays /slow by slowDelay and responds to /fail
// with 500.
func runThresholdPlan(t *testing.T, run string, duration time.Duration, path, thresholds string) thresholdRun {
	t.Helper()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, map[string]testutil.Route{
		"/slow": {Delay: slowDelay},
		"/fail": {Status: http.StatusInternalServerError},
	})
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: %s
target: %s
users: 4
duration: %s
max_rps: 200
%s
tasks:
  - name: %s
    url: %s
`, run, target.URL, duration, thresholds, taskName(path), path))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 1)
	started := time.Now()
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	code := waitExit(t, coord, duration+exitTimeout)
	took := time.Since(started)
	checkWorkersExited(t, workers)

	return thresholdRun{
		code:    code,
		took:    took,
		stdout:  coord.Stdout(),
		stderr:  coord.Stderr(),
		summary: readSummary(t, out),
		outcome: readThresholds(t, out),
	}
}

// only returns the one threshold result of the run, failing the test when
// there is not exactly one.
func (r thresholdRun) only(t *testing.T) thresholdResult {
	t.Helper()
	if len(r.outcome.Thresholds) != 1 {
		t.Fatalf("summary has %d thresholds, want 1: %+v", len(r.outcome.Thresholds), r.outcome.Thresholds)
	}
	return r.outcome.Thresholds[0]
}

// readThresholds reads the thresholds and thresholds_passed keys of the
// --out file at path.
func readThresholds(t *testing.T, path string) thresholdOutcome {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	var o thresholdOutcome
	if err := json.Unmarshal(data, &o); err != nil {
		t.Fatalf("decode thresholds of summary %s: %v\n%s", path, err, data)
	}
	return o
}

// taskName names the task that requests path: "root" for "/" and the
// path without its slash otherwise.
func taskName(path string) string {
	if path == "/" {
		return "root"
	}
	return strings.TrimPrefix(path, "/")
}

func describePassed(passed *bool) string {
	if passed == nil {
		return "missing"
	}
	return fmt.Sprint(*passed)
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
