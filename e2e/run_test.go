package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// minRatioSample is the fewest requests for which the 3:1 ratio check is
// meaningful. With 4000 requests the standard deviation of the observed
// ratio is about 0.11, so the allowed 0.3 is nearly 3 deviations.
const minRatioSample = 4000

func TestWeightedTasksAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "weighted"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: weighted
target: %s
users: 8
spawn_rate: 100
duration: 3s
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: heavy
    weight: 3
    url: /heavy
  - name: light
    weight: 1
    url: /light
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	if code := waitExit(t, coord, 3*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	heavy, light := target.Count("/heavy"), target.Count("/light")
	if s.Run != run {
		t.Errorf("run = %q, want %q", s.Run, run)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if s.Failures != 0 {
		t.Errorf("failures = %d, want 0; errors: %+v", s.Failures, s.Errors)
	}
	if got := s.task(t, "heavy").Requests; got != uint64(heavy) {
		t.Errorf("task heavy requests = %d, target received %d on /heavy", got, heavy)
	}
	if got := s.task(t, "light").Requests; got != uint64(light) {
		t.Errorf("task light requests = %d, target received %d on /light", got, light)
	}

	if heavy+light < minRatioSample {
		t.Fatalf("target received %d requests in 3 s, too few to check the ratio of weights; want at least %d",
			heavy+light, minRatioSample)
	}
	ratio := float64(heavy) / float64(light)
	t.Logf("heavy:light = %d:%d = %.3f", heavy, light, ratio)
	if ratio < 2.7 || ratio > 3.3 {
		t.Errorf("heavy:light = %d:%d = %.3f, want 3 within 10%%", heavy, light, ratio)
	}
}

func TestIterationsExactAcrossThreeWorkers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "iterations"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: iterations
target: %s
users: 9
spawn_rate: 100
duration: 2m
iterations: 501
workers:
  min: 3
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 3)
	began := time.Now()
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	// The plan's duration is 2 minutes, so a run that ends within 30 s
	// was ended by its iterations.
	if code := waitExit(t, coord, 30*time.Second); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	t.Logf("run ended after %s", time.Since(began).Round(time.Millisecond))
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if got := target.Total(); got != 501 {
		t.Errorf("target received %d requests, want exactly 501", got)
	}
	if s.Requests != 501 {
		t.Errorf("summary requests = %d, want 501", s.Requests)
	}
	if got := s.task(t, "home").Requests; got != 501 {
		t.Errorf("task home requests = %d, want 501", got)
	}
	if s.Workers != 3 {
		t.Errorf("workers = %d, want 3", s.Workers)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
}

func TestZeroWeightTaskNeverRuns(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "zero-weight"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: zero-weight
target: %s
users: 4
spawn_rate: 100
duration: 2s
max_rps: 2000
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: never
    weight: 0
    url: /never
  - name: always
    weight: 1
    url: /always
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, 2*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if got := target.Count("/never"); got != 0 {
		t.Errorf("target received %d requests on /never, the path of a task with weight 0", got)
	}
	always := target.Count("/always")
	if always == 0 {
		t.Fatal("target received no request on /always, so the run generated no load")
	}
	if total := target.Total(); total != always {
		t.Errorf("target received %d requests, %d of them on /always; want none elsewhere", total, always)
	}
	if s.Requests != uint64(always) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, always)
	}
	if got := s.task(t, "always").Requests; got != uint64(always) {
		t.Errorf("task always requests = %d, target received %d", got, always)
	}
	if got := s.task(t, "never").Requests; got != 0 {
		t.Errorf("task never requests = %d, want 0", got)
	}
}

func TestEmbeddedServerWithLocalWorker(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	target := testutil.NewTarget(t, nil)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: embedded
target: %s
users: 4
spawn_rate: 100
duration: 2s
max_rps: 2000
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	// No --nats: the coordinator starts its own server and one local worker.
	coord := testutil.StartProcess(t, coordinator, "start", "--listen", "127.0.0.1:0", "--out", out,
		"--report-interval", reportInterval, "--lease", lease, plan)
	if code := waitExit(t, coord, 2*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}

	s := readSummary(t, out)
	if target.Total() == 0 {
		t.Fatal("target received no request")
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if s.Workers != 1 {
		t.Errorf("workers = %d, want 1", s.Workers)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
}
