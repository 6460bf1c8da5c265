package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestCustomWorkerRunsGoTasks builds examples/custom-worker, runs a plan
// that mixes its Go task with an HTTP task on two of its processes, and
// checks the summary against the target's counts.
func TestCustomWorkerRunsGoTasks(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	customWorker := testutil.BuildProgram(t, "./examples/custom-worker")
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const (
		run        = "gotasks"
		iterations = 120
	)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: gotasks
target: %s
users: 6
spawn_rate: 100
iterations: %d
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: login
    weight: 2
    go: login-and-browse
  - name: home
    url: /home
`, target.URL, iterations))
	out := filepath.Join(t.TempDir(), "summary.json")

	// The example reads its target from the environment, because a Go
	// task has no url key.
	env := []string{"BARRAGE_EXAMPLE_TARGET=" + target.URL}
	workers := make([]*testutil.Process, 2)
	for i := range workers {
		workers[i] = testutil.StartProcessWithEnv(t, env, customWorker,
			"--nats", nats.URL(), "--run", run, "--id", fmt.Sprintf("%s-w%d", run, i), "--connect-timeout", "10s")
	}
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	logins, homes := target.Count("/login"), target.Count("/home")
	// Each execution of login-and-browse opens one item page after its
	// login, and the target counts every item path on its own.
	items := target.Total() - logins - homes
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}
	if s.Failures != 0 {
		t.Errorf("failures = %d, want 0; errors: %+v", s.Failures, s.Errors)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if logins+homes != iterations {
		t.Errorf("target received %d logins and %d home pages, want %d executions in all", logins, homes, iterations)
	}
	if logins == 0 {
		t.Errorf("target received no login, want about two thirds of %d", iterations)
	}
	if items != logins {
		t.Errorf("target received %d item pages and %d logins, want one item page per login", items, logins)
	}
	if got := s.task(t, "login").Requests; got != uint64(logins+items) {
		t.Errorf("task login requests = %d, target received %d logins and %d item pages", got, logins, items)
	}
	if got := s.task(t, "home").Requests; got != uint64(homes) {
		t.Errorf("task home requests = %d, target received %d on /home", got, homes)
	}
}

// TestStockWorkerRejectsGoTask runs a plan with a Go task on the stock
// worker, which lacks it. The worker leaves the run with a message that
// names the task. The coordinator then ends the run as incomplete instead
// of waiting for iterations that no worker can run.
func TestStockWorkerRejectsGoTask(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "missing-gotask"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: missing-gotask
target: %s
users: 2
iterations: 10
tasks:
  - name: login
    go: login-and-browse
  - name: home
    url: /home
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 1)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	if code := waitExit(t, coord, exitTimeout); code != 1 {
		t.Errorf("coordinator exit code = %d, want 1", code)
	}
	code, err := workers[0].Wait(15 * time.Second)
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	if code != 1 {
		t.Errorf("worker exit code = %d, want 1", code)
	}

	const missing = "task login-and-browse is not compiled into this worker; build your own worker with task.Register"
	if stderr := workers[0].Stderr(); !strings.Contains(stderr, missing) {
		t.Errorf("worker stderr does not contain %q:\n%s", missing, stderr)
	}
	wantProblem := "no worker could start its share: worker " + run + "-w0: "
	if stderr := coord.Stderr(); !strings.Contains(stderr, wantProblem) || !strings.Contains(stderr, missing) {
		t.Errorf("coordinator stderr does not contain %q and %q:\n%s", wantProblem, missing, stderr)
	}
	s := readSummary(t, out)
	if s.Complete {
		t.Errorf("complete = true, want false")
	}
	if !strings.HasPrefix(s.Problem, wantProblem) || !strings.Contains(s.Problem, missing) {
		t.Errorf("problem = %q, want %q followed by %q", s.Problem, wantProblem, missing)
	}
	if s.Requests != 0 {
		t.Errorf("summary requests = %d, want 0", s.Requests)
	}
	if n := target.Total(); n != 0 {
		t.Errorf("target received %d requests, want 0", n)
	}
}

// TestMixedFleetMovesGoTaskUsers runs a plan with a Go task on a stock
// worker and a custom worker: the stock worker leaves, and the custom
// worker runs every iteration.
func TestMixedFleetMovesGoTaskUsers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	customWorker := testutil.BuildProgram(t, "./examples/custom-worker")
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const (
		run        = "mixed-fleet"
		iterations = 50
	)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: mixed-fleet
target: %s
users: 4
iterations: %d
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: login
    go: login-and-browse
`, target.URL, iterations))
	out := filepath.Join(t.TempDir(), "summary.json")

	stock := startWorkers(t, worker, nats.URL(), run, 1)[0]
	custom := testutil.StartProcessWithEnv(t, []string{"BARRAGE_EXAMPLE_TARGET=" + target.URL}, customWorker,
		"--nats", nats.URL(), "--run", run, "--id", run+"-custom", "--connect-timeout", "10s")
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, []*testutil.Process{custom})
	if code, err := stock.Wait(15 * time.Second); err != nil || code != 1 {
		t.Errorf("stock worker exit code = %d (%v), want 1 after it could not start its share", code, err)
	}

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.Failures != 0 {
		t.Errorf("failures = %d, want 0; errors: %+v", s.Failures, s.Errors)
	}
	if n := target.Count("/login"); n != iterations {
		t.Errorf("target received %d logins, want %d", n, iterations)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if want := uint64(2 * iterations); s.Requests != want {
		t.Errorf("summary requests = %d, want %d, a login and an item page per execution", s.Requests, want)
	}
}
