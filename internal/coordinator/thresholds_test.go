package coordinator_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
	"github.com/barrage-load/barrage/internal/threshold"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// slowDelay is how long the target takes to respond on /slow.
const slowDelay = 300 * time.Millisecond

// newThresholdTarget starts a target that responds on /slow after
// slowDelay, on /fail with 500 and on every other path with 200 at once.
func newThresholdTarget(t *testing.T) *testutil.Target {
	return testutil.NewTarget(t, map[string]testutil.Route{
		"/slow": {Delay: slowDelay},
		"/fail": {Status: http.StatusInternalServerError},
	})
}

func TestRunReportsLatencyOfDelayedTask(t *testing.T) {
	t.Parallel()
	target := newThresholdTarget(t)
	s, _ := runPlan(t, "delayed", fmt.Sprintf(`target: %s
users: 4
duration: 2s
thresholds: {p95: 200ms}
tasks:
  - name: slow
    url: /slow
    thresholds: {p95: 1s, error_rate: 0%%}
`, target.URL))

	// The histogram adds at most 0.39 %; the rest allows for scheduling
	// and loopback noise on a busy machine.
	p50 := s.Tasks[0].LatencyMS.P50
	t.Logf("p50 of slow = %.3f ms over %d requests", p50, s.Tasks[0].Requests)
	allowed := 0.01*ms(slowDelay) + 20
	if math.Abs(p50-ms(slowDelay)) > allowed {
		t.Errorf("p50 of slow = %.3f ms, want %.0f ms within %.0f ms", p50, ms(slowDelay), allowed)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; thresholds without abort_on_fail must not stop the run", s.Problem)
	}

	results := byName(t, s, 3)
	run := results["p95 <= 200ms"]
	if run.Passed {
		t.Errorf("p95 <= 200ms passed with value %.3f ms", run.Value)
	}
	if run.Value < 200 {
		t.Errorf("p95 <= 200ms value = %.3f ms, want the measured p95 above 200", run.Value)
	}
	// The summary truncates latencies to the microsecond.
	if math.Abs(run.Value-s.LatencyMS.P95) >= 0.001 {
		t.Errorf("p95 <= 200ms value = %.6f ms, summary p95 = %.3f ms", run.Value, s.LatencyMS.P95)
	}
	if !results["slow: p95 <= 1s"].Passed {
		t.Errorf("slow: p95 <= 1s failed: %+v", results["slow: p95 <= 1s"])
	}
	if got := results["slow: p95 <= 1s"].Task; got != "slow" {
		t.Errorf("slow: p95 <= 1s task = %q, want %q", got, "slow")
	}
	if !results["slow: error_rate <= 0%"].Passed {
		t.Errorf("slow: error_rate <= 0%% failed: %+v", results["slow: error_rate <= 0%"])
	}
	if s.ThresholdsPassed {
		t.Error("thresholds_passed = true with a failed threshold")
	}
}

func TestRunAbortsOnErrorRate(t *testing.T) {
	t.Parallel()
	target := newThresholdTarget(t)
	s, took := runPlan(t, "error-rate", fmt.Sprintf(`target: %s
users: 2
duration: 60s
max_rps: 100
thresholds: {error_rate: 1%%, abort_on_fail: true}
tasks:
  - name: fail
    url: /fail
`, target.URL))

	// One report interval finds the failures, and stopping waits for the
	// workers' final reports.
	if took > 15*time.Second {
		t.Errorf("run took %s, want a stop within a few seconds of the first failures", took)
	}
	if s.Complete {
		t.Error("complete = true for a run stopped by a failed threshold")
	}
	want := "aborted: threshold error_rate <= 1% breached at 100%"
	if s.Problem != want {
		t.Errorf("problem = %q, want %q", s.Problem, want)
	}
	results := byName(t, s, 1)
	if r := results["error_rate <= 1%"]; r.Passed || r.Value != 1 {
		t.Errorf("error_rate <= 1%% = %+v, want failed with value 1", r)
	}
	if s.ThresholdsPassed {
		t.Error("thresholds_passed = true with a failed threshold")
	}
}

func TestRunAbortsOnlyForItsOwnGroup(t *testing.T) {
	t.Parallel()
	target := newThresholdTarget(t)
	s, _ := runPlan(t, "own-group", fmt.Sprintf(`target: %s
users: 2
duration: 2s
max_rps: 100
thresholds: {p95: 10s, min_rps: 1000000, abort_on_fail: true}
tasks:
  - name: fail
    url: /fail
    thresholds: {error_rate: 1%%}
`, target.URL))

	if !s.Complete {
		t.Errorf("complete = false, problem %q; a task limit without abort_on_fail and min_rps must not stop the run", s.Problem)
	}
	results := byName(t, s, 3)
	if !results["p95 <= 10s"].Passed {
		t.Errorf("p95 <= 10s failed: %+v", results["p95 <= 10s"])
	}
	if r := results["rps >= 1000000"]; r.Passed || r.Value <= 0 {
		t.Errorf("rps >= 1000000 = %+v, want failed with the measured rate", r)
	}
	if r := results["fail: error_rate <= 1%"]; r.Passed {
		t.Errorf("fail: error_rate <= 1%% passed: %+v", r)
	}
	if s.ThresholdsPassed {
		t.Error("thresholds_passed = true with failed thresholds")
	}
}

func TestRunWithoutThresholds(t *testing.T) {
	t.Parallel()
	target := newThresholdTarget(t)
	s, _ := runPlan(t, "no-limits", fmt.Sprintf(`target: %s
users: 1
iterations: 5
tasks:
  - name: home
    url: /
`, target.URL))

	if s.Thresholds == nil || len(s.Thresholds) != 0 {
		t.Errorf("thresholds = %#v, want an empty list", s.Thresholds)
	}
	if !s.ThresholdsPassed {
		t.Error("thresholds_passed = false for a plan without thresholds")
	}
}

// runPlan runs the plan in yaml in this process with one worker process,
// on an embedded NATS server, and returns the summary and how long Run
// took.
func runPlan(t *testing.T, run, yaml string) (*coordinator.Summary, time.Duration) {
	t.Helper()
	p, err := plan.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	server := testutil.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	startWorker(t, server.URL(), run)
	b, err := bus.Connect(ctx, server.URL(), "coordinator-"+run)
	if err != nil {
		t.Fatalf("connect the coordinator: %v", err)
	}
	defer b.Close()

	start := time.Now()
	s, err := coordinator.Run(ctx, b, coordinator.Config{
		Plan:           p,
		RunID:          run,
		ReportInterval: 200 * time.Millisecond,
		Lease:          2 * time.Second,
		Logger:         logger,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return s, time.Since(start)
}

// startWorker starts a worker process for run. It runs the worker binary
// rather than the worker package, so that the race detector of this test
// watches the coordinator alone.
func startWorker(t *testing.T, url, run string) {
	t.Helper()
	_, worker := testutil.BuildBinaries(t)
	testutil.StartProcess(t, worker, "--nats", url, "--run", run, "--id", run+"-w0", "--connect-timeout", "10s")
}

// byName returns the threshold results of s by name, failing the test
// unless there are exactly want of them.
func byName(t *testing.T, s *coordinator.Summary, want int) map[string]threshold.Result {
	t.Helper()
	results := make(map[string]threshold.Result, len(s.Thresholds))
	var names []string
	for _, r := range s.Thresholds {
		results[r.Name] = r
		names = append(names, r.Name)
	}
	if len(s.Thresholds) != want {
		t.Fatalf("summary has %d thresholds, want %d: %s", len(s.Thresholds), want, strings.Join(names, ", "))
	}
	return results
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
