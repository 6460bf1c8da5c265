package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
	"github.com/barrage-load/barrage/internal/worker"
)

func TestIterationsExactWithTwoWorkers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "exact-two"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: exact-two
target: %s
users: 4
spawn_rate: 100
duration: 2m
iterations: 40
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	finals := subscribeSync(t, server.URL(), "stats."+run+".final")
	workers := startWorkers(t, worker, server.URL(), run, 2)
	began := time.Now()
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// The plan's duration is 2 minutes, so an exit within exitTimeout
	// means the iterations ended the run.
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	took := time.Since(began)
	t.Logf("run of 40 iterations ended after %s", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("coordinator exited %s after its start, want within 10s for 40 requests", took.Round(time.Millisecond))
	}
	checkWorkersExited(t, workers)

	if got := target.Total(); got != 40 {
		t.Errorf("target received %d requests, want exactly 40", got)
	}
	s := readSummary(t, out)
	if s.Requests != 40 {
		t.Errorf("summary requests = %d, want 40", s.Requests)
	}
	if got := s.task(t, "home").Requests; got != 40 {
		t.Errorf("task home requests = %d, want 40", got)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}

	msgs := finals.drain(t)
	if len(msgs) != 1 {
		t.Fatalf("stats.%s.final was published %d times, want once", run, len(msgs))
	}
	if got := decodeJSON(t, msgs[0])["requests"]; got != 40.0 {
		t.Errorf("stats.%s.final requests = %v, want 40", run, got)
	}
}

func TestIterationsExactWithLateWorker(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "exact-late"
	// At max_rps 500 the 3000 iterations take about 6 s, so the second
	// worker joins while more than half of them are left.
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: exact-late
target: %s
users: 10
spawn_rate: 100
duration: 2m
iterations: 3000
max_rps: 500
workers:
  min: 1
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	first := startWorkers(t, worker, server.URL(), run, 1)[0]
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// 1000 requests take about 2 s at max_rps.
	testutil.Eventually(t, exitTimeout, func() bool {
		return target.Total() >= 1000 || coord.Exited()
	}, "the target receives 1000 requests")
	if coord.Exited() {
		t.Fatal("coordinator exited before the target received 1000 requests")
	}
	late := testutil.StartProcess(t, worker,
		"--nats", server.URL(), "--run", run, "--id", run+"-late", "--connect-timeout", "10s")
	joinedAt := target.Total()

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, []*testutil.Process{first, late})

	t.Logf("second worker started after %d requests", joinedAt)
	if got := target.Total(); got != 3000 {
		t.Errorf("target received %d requests, want exactly 3000", got)
	}
	s := readSummary(t, out)
	if s.Requests != 3000 {
		t.Errorf("summary requests = %d, want 3000", s.Requests)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}

	maxUsers := 0
	for _, m := range views.since(time.Time{}) {
		for _, v := range decodeWorkers(t, m.msg) {
			if v.ID == run+"-late" {
				maxUsers = max(maxUsers, v.Users)
			}
		}
	}
	if maxUsers == 0 {
		t.Errorf("stats.%s.workers never showed users on the late worker, want some of the 10", run)
	}
}

func TestPausedWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "paused-worker"
	const maxRPS = 600
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: paused-worker
target: %s
users: 30
spawn_rate: 100
duration: 16s
max_rps: %d
workers:
  min: 3
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL, maxRPS))
	out := filepath.Join(t.TempDir(), "summary.json")

	samples := sampleTotal(t, target)
	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	summaries := recordSubject(t, server.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, server.URL(), run, 3)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	waitWorkersRunning(t, views, coord, 3, 10)
	paused := workers[1]
	if err := paused.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("send SIGSTOP: %v", err)
	}
	stopped := time.Now()

	// The paused worker's presence expires within a lease. Its users then
	// move at the spawn rate and show in the next report and summary.
	limit := leaseDuration + 2*reportIntervalDuration + time.Second
	testutil.Eventually(t, limit+5*time.Second, func() bool {
		for _, m := range summaries.since(stopped) {
			live := decodeLive(t, m.msg)
			if live.Users == 30 && live.Workers == 2 {
				return true
			}
		}
		return false
	}, "summary shows 30 users on 2 workers")
	if took := time.Since(stopped); took > limit {
		t.Errorf("users moved %s after SIGSTOP, want within %s", took.Round(time.Millisecond), limit)
	}

	if err := paused.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("send SIGCONT: %v", err)
	}
	woke := time.Now()
	code := waitExit(t, paused, 10*time.Second)
	exited := time.Since(woke)
	t.Logf("paused worker exited %s after SIGCONT", exited.Round(time.Millisecond))
	if code == 0 {
		t.Error("paused worker exit code = 0, want non-zero: its lease expired")
	}
	if exited > time.Second {
		t.Errorf("paused worker exited %s after SIGCONT, want within 1s", exited.Round(time.Millisecond))
	}
	if stderr := paused.Stderr(); !strings.Contains(stderr, "this worker's lease expired") {
		t.Errorf("paused worker's log does not say that its lease expired:\n%s", stderr)
	}

	if code := waitExit(t, coord, 16*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0: the other workers finished the run", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], workers[2]})
	samples.stop()

	for _, m := range summaries.since(woke) {
		if live := decodeLive(t, m.msg); live.Users > 31 {
			t.Errorf("summary %.1f s after SIGCONT shows %d users, want at most 31 of the plan's 30",
				m.at.Sub(woke).Seconds(), live.Users)
		}
	}
	// Two workers share max_rps. Had the woken one resumed its old share,
	// it would add a third of max_rps on top.
	before := samples.countBetween(woke.Add(-time.Second), woke)
	after := samples.countBetween(woke, woke.Add(time.Second))
	t.Logf("target received %d requests in the second before SIGCONT and %d in the second after", before, after)
	if after > maxRPS*11/10 {
		t.Errorf("target received %d requests in the second after SIGCONT, want at most %d (max_rps %d + 10%%)",
			after, maxRPS*11/10, maxRPS)
	}

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Workers != 3 {
		t.Errorf("workers = %d, want 3", s.Workers)
	}
	if total := target.Total(); s.Requests != uint64(total) {
		t.Errorf("summary requests = %d, target received %d; the woken worker's final report carries the rest",
			s.Requests, total)
	}
}

// TestWokenWorkerUsersNotCounted pauses a worker while its users wait for
// slow responses. After SIGCONT the worker keeps reporting until those
// responses arrive, and the coordinator must not count its users again:
// they were moved to the other worker.
func TestWokenWorkerUsersNotCounted(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	// Each request takes 8 s, so the paused worker's users are still
	// waiting for their first responses for seconds after SIGCONT.
	target := testutil.NewTarget(t, map[string]testutil.Route{"/slow": {Delay: 8 * time.Second}})
	const run = "woken-worker"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: woken-worker
target: %s
users: 6
spawn_rate: 100
duration: 6s
timeout: 10s
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: slow
    url: /slow
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	summaries := recordSubject(t, server.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, server.URL(), run, 2)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	waitWorkersRunning(t, views, coord, 2, 3)
	paused := workers[1]
	if err := paused.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("send SIGSTOP: %v", err)
	}
	stopped := time.Now()
	testutil.Eventually(t, 15*time.Second, func() bool {
		for _, m := range summaries.since(stopped) {
			live := decodeLive(t, m.msg)
			if live.Users == 6 && live.Workers == 1 {
				return true
			}
		}
		return false
	}, "summary shows 6 users on 1 worker")

	if err := paused.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("send SIGCONT: %v", err)
	}
	woke := time.Now()
	if code := waitExit(t, paused, 15*time.Second); code == 0 {
		t.Error("paused worker exit code = 0, want non-zero: its lease expired")
	}
	t.Logf("paused worker exited %s after SIGCONT", time.Since(woke).Round(time.Millisecond))
	if code := waitExit(t, coord, 6*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}

	for _, m := range summaries.since(woke) {
		if live := decodeLive(t, m.msg); live.Users > 7 {
			t.Errorf("summary %.1f s after SIGCONT shows %d users on %d workers, want at most 7 of the plan's 6",
				m.at.Sub(woke).Seconds(), live.Users, live.Workers)
		}
	}
}

// TestStoppingWorkerKeepsPresence ends a run while every request waits
// longer than a lease for its response. The worker must keep its presence
// while its users finish those requests, so that their final report is
// merged and the worker is not counted as lost.
func TestStoppingWorkerKeepsPresence(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, map[string]testutil.Route{"/slow": {Delay: 6 * time.Second}})
	const run = "slow-stop"
	// The run stops after 3 s, and the requests sent at its start finish
	// 3 s later: longer than the 2 s lease, within the 10 s timeout.
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: slow-stop
target: %s
users: 2
spawn_rate: 100
duration: 3s
timeout: 10s
tasks:
  - name: slow
    url: /slow
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, server.URL(), run, 1)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)
	if code := waitExit(t, coord, 10*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if s.Lost != 0 {
		t.Errorf("workers_lost = %d, want 0: the worker was waiting for responses, not gone", s.Lost)
	}
	if got := target.Total(); got != 2 {
		t.Errorf("target received %d requests, want 2: one from each user before the run stopped", got)
	}
	if s.Requests != 2 {
		t.Errorf("summary requests = %d, want the 2 that the target received", s.Requests)
	}
}

func TestCoordinatorKilledStopsLoad(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "killed-coordinator"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: killed-coordinator
target: %s
users: 10
spawn_rate: 1000
duration: 60s
max_rps: 1000
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	samples := sampleTotal(t, target)
	workers := startWorkers(t, worker, server.URL(), run, 2)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// 1000 requests take about a second at max_rps.
	testutil.Eventually(t, exitTimeout, func() bool {
		return target.Total() >= 1000 || coord.Exited()
	}, "the target receives 1000 requests")
	if coord.Exited() {
		t.Fatal("coordinator exited before the target received 1000 requests")
	}
	coord.Kill()
	killed := time.Now()

	for i, w := range workers {
		code := waitExit(t, w, leaseDuration+5*time.Second)
		t.Logf("worker %d exited %s after SIGKILL of the coordinator", i, time.Since(killed).Round(time.Millisecond))
		if code == 0 {
			t.Errorf("worker %d exit code = 0, want non-zero: its coordinator is gone", i)
		}
		if stderr := w.Stderr(); !strings.Contains(stderr, "coordinator lost") {
			t.Errorf("worker %d's log does not say that the coordinator was lost:\n%s", i, stderr)
		}
	}

	// Both workers have exited, so the target's count is final.
	samples.stop()
	limit := leaseDuration + 500*time.Millisecond
	stoppedAfter := samples.lastIncrease().Sub(killed)
	t.Logf("load stopped %s after SIGKILL of the coordinator", stoppedAfter.Round(time.Millisecond))
	if stoppedAfter > limit {
		t.Errorf("target received requests until %s after SIGKILL of the coordinator, want at most %s",
			stoppedAfter.Round(time.Millisecond), limit)
	}
}

func TestRunsStayIsolated(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	runs := []string{"isolated-a", "isolated-b"}
	targets := make([]*testutil.Target, len(runs))
	outs := make([]string, len(runs))
	views := make([]*subjectRecorder, len(runs))
	coords := make([]*testutil.Process, len(runs))
	var workers []*testutil.Process
	for i, run := range runs {
		targets[i] = testutil.NewTarget(t, nil)
		plan := testutil.WritePlan(t, fmt.Sprintf(`name: %s
target: %s
users: 4
spawn_rate: 100
duration: 3s
max_rps: 1000
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, run, targets[i].URL))
		outs[i] = filepath.Join(t.TempDir(), "summary.json")
		views[i] = recordSubject(t, server.URL(), "stats."+run+".workers")
		workers = append(workers, startWorkers(t, worker, server.URL(), run, 2)...)
		coords[i] = startCoordinator(t, coordinator, server.URL(), run, plan, outs[i])
	}

	for i, run := range runs {
		if code := waitExit(t, coords[i], 3*time.Second+exitTimeout); code != 0 {
			t.Errorf("coordinator of %s exit code = %d, want 0", run, code)
		}
	}
	checkWorkersExited(t, workers)

	for i, run := range runs {
		s := readSummary(t, outs[i])
		total := targets[i].Total()
		if total == 0 {
			t.Errorf("target of %s received no request", run)
		}
		if s.Run != run {
			t.Errorf("summary of %s: run = %q", run, s.Run)
		}
		if s.Requests != uint64(total) {
			t.Errorf("summary of %s: requests = %d, its target received %d", run, s.Requests, total)
		}
		if s.Workers != 2 {
			t.Errorf("summary of %s: workers = %d, want 2", run, s.Workers)
		}
		if !s.Complete {
			t.Errorf("summary of %s: complete = false, problem %q", run, s.Problem)
		}
		for _, m := range views[i].since(time.Time{}) {
			for _, v := range decodeWorkers(t, m.msg) {
				if !strings.HasPrefix(v.ID, run+"-w") {
					t.Errorf("stats.%s.workers lists worker %q, which was started for another run", run, v.ID)
				}
			}
		}
	}
}

func TestUnboundWorkerJoinsFirstRunOnly(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	b := connectBus(ctx, t, server.URL(), "unbound-test")

	// Run first-a needs the unbound worker to reach its 2 workers. Run
	// first-b starts while first-a runs and outlasts it, so the unbound
	// worker could join it after first-a ends, and must not.
	const first, second, unbound = "first-a", "first-b", "unbound"
	durations := map[string]string{first: "3s", second: "8s"}
	minWorkers := map[string]int{first: 2, second: 1}
	targets := make(map[string]*testutil.Target)
	plans := make(map[string]string)
	for _, run := range []string{first, second} {
		targets[run] = testutil.NewTarget(t, nil)
		plans[run] = testutil.WritePlan(t, fmt.Sprintf(`name: %s
target: %s
users: 4
spawn_rate: 100
duration: %s
max_rps: 500
workers:
  min: %d
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, run, targets[run].URL, durations[run], minWorkers[run]))
	}
	outFirst := filepath.Join(t.TempDir(), "first.json")
	outSecond := filepath.Join(t.TempDir(), "second.json")
	secondViews := recordSubject(t, server.URL(), "stats."+second+".workers")

	free := testutil.StartProcess(t, worker, "--nats", server.URL(), "--id", unbound, "--connect-timeout", "10s")
	firstWorkers := startWorkers(t, worker, server.URL(), first, 1)
	coordFirst := startCoordinator(t, coordinator, server.URL(), first, plans[first], outFirst)
	testutil.Eventually(t, exitTimeout, func() bool {
		_, err := b.KV.Get(ctx, bus.WorkerKey(first, unbound))
		return err == nil || free.Exited()
	}, "the unbound worker joins %s", first)
	if free.Exited() {
		t.Fatalf("unbound worker exited before joining %s", first)
	}

	secondWorkers := startWorkers(t, worker, server.URL(), second, 1)
	coordSecond := startCoordinator(t, coordinator, server.URL(), second, plans[second], outSecond)

	if code := waitExit(t, free, 3*time.Second+exitTimeout); code != 0 {
		t.Errorf("unbound worker exit code = %d, want 0 when %s ends", code, first)
	}
	if coordSecond.Exited() {
		t.Errorf("%s ended before the unbound worker exited, so the test shows nothing about joining it", second)
	}
	if code := waitExit(t, coordFirst, exitTimeout); code != 0 {
		t.Errorf("coordinator of %s exit code = %d, want 0", first, code)
	}
	if code := waitExit(t, coordSecond, 8*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator of %s exit code = %d, want 0", second, code)
	}
	checkWorkersExited(t, append(firstWorkers, secondWorkers...))

	sFirst := readSummary(t, outFirst)
	if sFirst.Workers != 2 {
		t.Errorf("summary of %s: workers = %d, want 2 with the unbound worker", first, sFirst.Workers)
	}
	if total := targets[first].Total(); sFirst.Requests != uint64(total) {
		t.Errorf("summary of %s: requests = %d, its target received %d", first, sFirst.Requests, total)
	}
	sSecond := readSummary(t, outSecond)
	if sSecond.Workers != 1 {
		t.Errorf("summary of %s: workers = %d, want 1", second, sSecond.Workers)
	}
	if total := targets[second].Total(); sSecond.Requests != uint64(total) {
		t.Errorf("summary of %s: requests = %d, its target received %d", second, sSecond.Requests, total)
	}
	for _, m := range secondViews.since(time.Time{}) {
		for _, v := range decodeWorkers(t, m.msg) {
			if v.ID == unbound {
				t.Fatalf("stats.%s.workers lists the unbound worker, which had joined %s", second, first)
			}
		}
	}
}

func TestDuplicateReportCountedOnce(t *testing.T) {
	t.Parallel()
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "duplicate-reports"
	p, err := plan.Parse(fmt.Appendf(nil, `name: duplicate-reports
target: %s
users: 4
spawn_rate: 100
duration: 3s
max_rps: 1000
tasks:
  - name: home
    url: /
`, target.URL))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	logs, logger := bufferLogger(t, slog.LevelDebug)
	coordBus := connectBus(ctx, t, server.URL(), "duplicate-coordinator")
	workerBus := connectBus(ctx, t, server.URL(), "duplicate-worker")
	dup := duplicateReports(t, server.URL(), run)

	w, err := worker.New(workerBus, worker.Config{ID: "dup-w0", Run: run, Logger: logger})
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	workerDone := make(chan error, 1)
	go func() { workerDone <- w.Run(ctx) }()

	s, err := coordinator.Run(ctx, coordBus, coordinator.Config{
		Plan:           p,
		RunID:          run,
		ReportInterval: 200 * time.Millisecond,
		Lease:          leaseDuration,
		Logger:         logger,
	})
	if err != nil {
		t.Fatalf("coordinator.Run: %v", err)
	}
	select {
	case err := <-workerDone:
		if err != nil {
			t.Errorf("worker.Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("worker still runs 15s after the run ended")
	}

	total := target.Total()
	if total == 0 {
		t.Fatal("target received no request")
	}
	if s.Requests != uint64(total) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, total)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q", s.Problem)
	}

	// Every report is stored twice: the worker's copy, deduplicated by its
	// message id, and the copy published without one.
	testutil.Eventually(t, 10*time.Second, dup.finalCopied, "the final report is copied")
	copies, distinct := dup.counts(t)
	if distinct < 2 {
		t.Fatalf("copied %d distinct reports, want at least 2 in a 3 s run with a 200ms interval", distinct)
	}
	stored := storedReports(ctx, t, coordBus, run)
	if stored != copies+distinct {
		t.Errorf("stream stores %d reports of run %s, want %d originals and %d copies", stored, run, distinct, copies)
	}
	dropped := strings.Count(logs.String(), "dropped duplicate or foreign report")
	t.Logf("%d distinct reports, %d copies, %d stored, %d dropped by the coordinator", distinct, copies, stored, dropped)
	if dropped == 0 {
		t.Error(`coordinator logged no "dropped duplicate or foreign report" at debug level, so no copy reached it before the end`)
	}
}

// waitWorkersRunning waits until a stats.<run>.workers message shows n
// workers that run users each and have reported.
func waitWorkersRunning(t *testing.T, views *subjectRecorder, coord *testutil.Process, n, users int) {
	t.Helper()
	testutil.Eventually(t, exitTimeout, func() bool {
		if coord.Exited() {
			return true
		}
		msgs := views.since(time.Time{})
		if len(msgs) == 0 {
			return false
		}
		running := 0
		for _, v := range decodeWorkers(t, msgs[len(msgs)-1].msg) {
			if v.Users == users && v.LastReportAgeS >= 0 {
				running++
			}
		}
		return running == n
	}, "%d workers run %d users each and have reported", n, users)
	if coord.Exited() {
		t.Fatalf("coordinator exited before %d workers ran %d users each", n, users)
	}
}

// liveSummary is the part of a stats.<run>.summary message that the
// fault tests check.
type liveSummary struct {
	State    string `json:"state"`
	Users    int    `json:"users"`
	Workers  int    `json:"workers"`
	Requests uint64 `json:"requests"`
}

func decodeLive(t *testing.T, msg *nats.Msg) liveSummary {
	t.Helper()
	var live liveSummary
	if err := json.Unmarshal(msg.Data, &live); err != nil {
		t.Fatalf("%s carries invalid JSON: %v\n%s", msg.Subject, err, msg.Data)
	}
	return live
}

// syncSubscription is a subscription whose messages are read after the
// fact, so that they can be counted exactly.
type syncSubscription struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

func subscribeSync(t *testing.T, url, subject string) *syncSubscription {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return &syncSubscription{nc: nc, sub: sub}
}

// drain returns every message that the server routed to the subscription
// before the call. The flush makes the server send them, and the client
// queues a message before it handles the flush's reply.
func (s *syncSubscription) drain(t *testing.T) []*nats.Msg {
	t.Helper()
	if err := s.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	var msgs []*nats.Msg
	for {
		msg, err := s.sub.NextMsg(10 * time.Millisecond)
		if errors.Is(err, nats.ErrTimeout) {
			return msgs
		}
		if err != nil {
			t.Fatalf("read %s: %v", s.sub.Subject, err)
		}
		msgs = append(msgs, msg)
	}
}

// totalSamples records a target's request count every few milliseconds
// until stop is called.
type totalSamples struct {
	mu      sync.Mutex
	times   []time.Time
	totals  []int64
	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func sampleTotal(t *testing.T, target *testutil.Target) *totalSamples {
	t.Helper()
	s := &totalSamples{quit: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		ticker := time.NewTicker(10 * time.Millisecond)
		defer ticker.Stop()
		for {
			s.mu.Lock()
			s.times = append(s.times, time.Now())
			s.totals = append(s.totals, target.Total())
			s.mu.Unlock()
			select {
			case <-s.quit:
				return
			case <-ticker.C:
			}
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop ends the sampling after one last sample and waits for it.
func (s *totalSamples) stop() {
	s.once.Do(func() { close(s.quit) })
	<-s.stopped
}

// lastIncrease returns the time of the first sample that shows the final
// count.
func (s *totalSamples) lastIncrease() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := len(s.totals) - 1
	i := last
	for i > 0 && s.totals[i-1] == s.totals[last] {
		i--
	}
	return s.times[i]
}

// countBetween returns how many requests arrived between the samples
// nearest to from and to.
func (s *totalSamples) countBetween(from, to time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := func(when time.Time) int64 {
		n := int64(0)
		for i, sampled := range s.times {
			if sampled.After(when) {
				break
			}
			n = s.totals[i]
		}
		return n
	}
	return at(to) - at(from)
}

// connectBus connects to the NATS server at url under the connection name
// name. The connection closes when the test ends.
func connectBus(ctx context.Context, t testing.TB, url, name string) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(ctx, url, name)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	t.Cleanup(b.Close)
	return b
}

// bufferLogger returns a logger at level whose output is kept in memory
// and logged if the test fails. In-process workers and coordinators log
// there rather than to the test log, which they could outlive.
func bufferLogger(t testing.TB, level slog.Level) (*testutil.Buffer, *slog.Logger) {
	t.Helper()
	logs := &testutil.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of in-process components:\n%s", logs.String())
		}
	})
	return logs, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
}

// reportCopier publishes a second copy of every report of a run into the
// report stream, without a message id so that the stream keeps both.
type reportCopier struct {
	mu       sync.Mutex
	copies   int
	distinct map[string]bool // worker and sequence number of each report seen
	final    bool            // a final report was copied
	errs     []error
}

// duplicateReports starts copying the reports of run. Its connection has
// echo off, so that it does not receive, and copy again, its own copies.
func duplicateReports(t *testing.T, url, run string) *reportCopier {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoEcho())
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("open jetstream: %v", err)
	}
	c := &reportCopier{distinct: make(map[string]bool)}
	_, err = nc.Subscribe(bus.ReportsPattern(run), func(msg *nats.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := js.Publish(ctx, msg.Subject, msg.Data)
		c.record(msg.Data, err)
	})
	if err != nil {
		t.Fatalf("subscribe to reports: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return c
}

func (c *reportCopier) record(data []byte, publishErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if publishErr != nil {
		c.errs = append(c.errs, fmt.Errorf("publish a copy of a report: %w", publishErr))
		return
	}
	c.copies++
	r, err := bus.DecodeReport(data)
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("decode a report: %w", err))
		return
	}
	c.distinct[fmt.Sprintf("%s.%d", r.Worker, r.Seq)] = true
	c.final = c.final || r.Final
}

// finalCopied reports whether a final report was copied. A worker sends
// its final report last, so every report before it was copied too.
func (c *reportCopier) finalCopied() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

// counts returns how many copies were published and how many distinct
// reports were seen, failing the test on any error while copying. A report
// that its worker retried is seen twice but stored once.
func (c *reportCopier) counts(t *testing.T) (copies, distinct int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		t.Error(err)
	}
	return c.copies, len(c.distinct)
}

// storedReports returns how many messages the report stream stores for run.
func storedReports(ctx context.Context, t *testing.T, b *bus.Bus, run string) int {
	t.Helper()
	stream, err := b.JS.Stream(ctx, bus.ReportStream)
	if err != nil {
		t.Fatalf("open stream %s: %v", bus.ReportStream, err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(bus.ReportsPattern(run)))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	n := 0
	for _, count := range info.State.Subjects {
		n += int(count)
	}
	return n
}
