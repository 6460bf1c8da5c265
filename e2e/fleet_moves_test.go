package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

// The tests in this file check how users move between workers as workers
// join, die and leave during a run. They read each worker's user count
// from stats.<run>.workers, where it is the count of the worker's newest
// report, so it lags the truth by up to one report interval.

func TestJoiningWorkerEvensSplit(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const (
		run       = "joining-worker"
		spawnRate = 10
	)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: joining-worker
target: %s
users: 30
spawn_rate: %d
duration: 25s
max_rps: 300
workers:
  min: 3
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL, spawnRate))
	out := filepath.Join(t.TempDir(), "summary.json")
	fourthID := run + "-w3"

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	summaries := recordSubject(t, server.URL(), "stats."+run+".summary")
	assignments := recordSubject(t, server.URL(), shareSubject(run, fourthID))
	workers := startWorkers(t, worker, server.URL(), run, 3)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	views.await(t, 0, exitTimeout, coord, func(m recordedMsg) bool {
		return countUsers(decodeWorkers(t, m.msg), 10) == 3
	}, "all 3 workers run 10 users each and have reported")

	// A killed worker's users move once its presence expires, within a
	// lease and a report interval. Starting 5 users on each of the 2
	// workers left at 5 per second adds 1 s, and the summary shows them
	// one more interval later.
	fromSummary := summaries.len()
	workers[1].Kill()
	killed := time.Now()
	if code := waitExit(t, workers[1], 5*time.Second); code != -1 {
		t.Errorf("killed worker exit code = %d, want -1 (ended by a signal)", code)
	}
	limit := leaseDuration + reportIntervalDuration + time.Second + reportIntervalDuration
	moved := summaries.await(t, fromSummary, limit+5*time.Second, coord, func(m recordedMsg) bool {
		s := decodeJSON(t, m.msg)
		return s["users"] == 30.0 && s["workers"] == 2.0
	}, "summary shows 30 users on 2 workers")
	if took := summaries.at(moved).at.Sub(killed); took > limit {
		t.Errorf("users moved %s after the kill, want within %s", took.Round(time.Millisecond), limit)
	} else {
		t.Logf("users of the killed worker moved %s after the kill", took.Round(time.Millisecond))
	}

	fromView := views.len()
	fourth := testutil.StartProcess(t, worker,
		"--nats", server.URL(), "--run", run, "--id", fourthID, "--connect-timeout", "10s")
	joined := time.Now()
	even := views.await(t, fromView, 10*time.Second, coord, func(m recordedMsg) bool {
		live := liveViews(decodeWorkers(t, m.msg))
		fourthView, _ := findView(live, fourthID)
		return len(live) == 3 && fourthView.Users > 0 && evenSplit(live, 30)
	}, "the 3 live workers split 30 users evenly")
	t.Logf("split became even %s after the fourth worker started",
		views.at(even).at.Sub(joined).Round(time.Millisecond))
	for _, v := range liveViews(decodeWorkers(t, views.at(even).msg)) {
		if v.Users != 10 {
			t.Errorf("worker %s runs %d users after the split became even, want 10", v.ID, v.Users)
		}
	}

	// The fourth worker starts users no faster than the plan's spawn rate,
	// counted from the moment its share was written.
	if assignments.len() == 0 {
		t.Fatalf("no share was written at %s", shareSubject(run, fourthID))
	}
	growth := []userSample{{at: assignments.at(0).at}}
	growth = append(growth, userSamples(t, views.between(fromView, even+1), fourthID)...)
	checkSpawnRate(t, fourthID, growth, spawnRate, 2)

	if code := waitExit(t, coord, 25*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0: the workers left finished the run", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], workers[2], fourth})

	// The fleet runs at most the plan's users plus one user being started
	// while another is still being stopped.
	checkFleetUsers(t, views.all(), 31, spawnRate)

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Lost != 1 {
		t.Errorf("workers_lost = %d, want 1", s.Lost)
	}
	if s.Workers != 4 {
		t.Errorf("workers = %d, want 4", s.Workers)
	}
	total := target.Total()
	if s.Requests < 1 || s.Requests > uint64(total) {
		t.Errorf("summary requests = %d, want from 1 to the %d the target received", s.Requests, total)
	}
}

func TestSecondWorkerTakesHalfGradually(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "second-worker"
	// The run ends by SIGINT once the second worker holds half the users,
	// long before its 90 s.
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: second-worker
target: %s
users: 30
spawn_rate: 1
duration: 90s
max_rps: 100
workers:
  min: 1
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	firstID, secondID := run+"-w0", run+"-w1"

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	workers := startWorkers(t, worker, server.URL(), run, 1)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// 30 users at 1 per second take 29 s to start.
	views.await(t, 0, 45*time.Second, coord, func(m recordedMsg) bool {
		v, ok := findView(decodeWorkers(t, m.msg), firstID)
		return ok && v.Users == 30
	}, "the first worker runs all 30 users")

	from := views.len()
	second := testutil.StartProcess(t, worker,
		"--nats", server.URL(), "--run", run, "--id", secondID, "--connect-timeout", "10s")
	joined := time.Now()

	// Moving 15 users at 1 per second takes about 15 s, so 5 s after the
	// join the second worker holds about 5.
	early := views.await(t, from, 10*time.Second, coord, func(m recordedMsg) bool {
		return m.at.Sub(joined) >= 5*time.Second
	}, "5 s pass after the second worker started")
	if v, _ := findView(decodeWorkers(t, views.at(early).msg), secondID); v.Users >= 12 {
		t.Errorf("second worker runs %d users 5 s after it started, want fewer than 12: users must move at the spawn rate", v.Users)
	} else {
		t.Logf("second worker runs %d users 5 s after it started", v.Users)
	}

	halved := views.await(t, early, 30*time.Second, coord, func(m recordedMsg) bool {
		first, _ := findView(decodeWorkers(t, m.msg), firstID)
		second, _ := findView(decodeWorkers(t, m.msg), secondID)
		return first.Users == 15 && second.Users == 15
	}, "each worker runs 15 users")
	took := views.at(halved).at.Sub(joined)
	t.Logf("users split 15/15 %s after the second worker started", took.Round(time.Millisecond))
	if took < 10*time.Second || took > 25*time.Second {
		t.Errorf("users split 15/15 %s after the second worker started, want 10 s to 25 s for 15 users at 1 per second",
			took.Round(time.Millisecond))
	}
	checkFleetUsers(t, views.between(from, halved+1), 31, 1)

	if err := coord.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("send SIGINT: %v", err)
	}
	if code := waitExit(t, coord, exitTimeout); code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for a run stopped by a signal", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], second})

	s := readSummary(t, out)
	if s.Complete {
		t.Error("complete = true for a run stopped by SIGINT")
	}
	if s.Lost != 0 {
		t.Errorf("workers_lost = %d, want 0", s.Lost)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
}

func TestJoinDuringMoveEvensSplit(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "join-during-move"
	// The run ends by SIGINT once the split is even, long before its 60 s.
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: join-during-move
target: %s
users: 20
spawn_rate: 4
duration: 60s
max_rps: 100
workers:
  min: 1
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	firstID, secondID, thirdID := run+"-w0", run+"-w1", run+"-w2"

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	secondShares := recordSubject(t, server.URL(), shareSubject(run, secondID))
	thirdShares := recordSubject(t, server.URL(), shareSubject(run, thirdID))
	workers := startWorkers(t, worker, server.URL(), run, 1)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// 20 users at 4 per second take about 5 s to start.
	views.await(t, 0, exitTimeout, coord, func(m recordedMsg) bool {
		v, ok := findView(decodeWorkers(t, m.msg), firstID)
		return ok && v.Users == 20
	}, "the first worker runs all 20 users")

	// The third worker joins while the second is still starting its first
	// users, before its first report.
	second := testutil.StartProcess(t, worker,
		"--nats", server.URL(), "--run", run, "--id", secondID, "--connect-timeout", "10s")
	testutil.Eventually(t, 10*time.Second, func() bool { return secondShares.len() > 0 },
		"the coordinator writes the second worker's share")
	from := views.len()
	third := testutil.StartProcess(t, worker,
		"--nats", server.URL(), "--run", run, "--id", thirdID, "--connect-timeout", "10s")
	testutil.Eventually(t, 10*time.Second, func() bool { return thirdShares.len() > 0 },
		"the coordinator writes the third worker's share")
	assigned := thirdShares.at(0).at
	// NOTE: when the machine is slow enough that the second worker
	// reports before the third joins, the coordinator has its real user
	// count and this run checks only an ordinary join.
	if gap := assigned.Sub(secondShares.at(0).at); gap >= reportIntervalDuration {
		t.Logf("the third worker got its share %s after the second, after the second may have reported", gap)
	}

	// Moving 13 users at 4 per second takes about 3.3 s. The reports and
	// the live statistics show it up to 1 s later, and 0.5 s more is slack.
	even := views.await(t, from, 15*time.Second, coord, func(m recordedMsg) bool {
		live := liveViews(decodeWorkers(t, m.msg))
		return len(live) == 3 && evenSplit(live, 20)
	}, "the 3 workers split 20 users evenly")
	took := views.at(even).at.Sub(assigned)
	for _, id := range []string{firstID, secondID, thirdID} {
		var counts []string
		for _, sample := range userSamples(t, views.between(from, even+1), id) {
			counts = append(counts, fmt.Sprintf("%s: %d", sample.at.Sub(assigned).Round(time.Millisecond), sample.users))
		}
		t.Logf("users of %s after the third worker's share was written: %s", id, strings.Join(counts, ", "))
	}
	if limit := 13*time.Second/4 + 1500*time.Millisecond; took > limit {
		t.Errorf("users split evenly %s after the third worker's share was written, want within %s for 13 users at 4 per second",
			took.Round(time.Millisecond), limit)
	}

	if err := coord.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("send SIGINT: %v", err)
	}
	if code := waitExit(t, coord, exitTimeout); code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for a run stopped by a signal", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], second, third})
}

func TestFleetRampsAtSpawnRate(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "fleet-ramp"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: fleet-ramp
target: %s
users: 100
spawn_rate: 4
duration: 35s
max_rps: 200
workers:
  min: 10
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	summaries := recordSubject(t, server.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, server.URL(), run, 10)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// Times are the summaries' elapsed_s, counted from the run's start.
	// Each worker starts its 10 users at 0.4 per second, the first at
	// once, so the fleet runs 100 users after 22.5 s and about 50 after
	// 10 s.
	full := summaries.await(t, 0, 45*time.Second, coord, func(m recordedMsg) bool {
		s := decodeJSON(t, m.msg)
		return s["state"] == "running" && s["users"] == 100.0
	}, "the fleet runs 100 users")
	fullAt, _ := decodeJSON(t, summaries.at(full).msg)["elapsed_s"].(float64)
	t.Logf("fleet ran 100 users %.1f s after the start", fullAt)
	if fullAt < 18 || fullAt > 32 {
		t.Errorf("fleet ran 100 users %.1f s after the start, want 18 s to 32 s for 100 users at 4 per second", fullAt)
	}

	sampled := false
	for _, m := range summaries.between(0, full+1) {
		s := decodeJSON(t, m.msg)
		elapsed, _ := s["elapsed_s"].(float64)
		if s["state"] != "running" || elapsed < 10 {
			continue
		}
		users, _ := s["users"].(float64)
		t.Logf("fleet ran %v users %.1f s after the start", users, elapsed)
		if users < 30 || users > 60 {
			t.Errorf("fleet ran %v users %.1f s after the start, want 30 to 60", users, elapsed)
		}
		sampled = true
		break
	}
	if !sampled {
		t.Error("no live summary between 10 s after the start and the full ramp")
	}

	if code := waitExit(t, coord, 35*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)
	checkMaxUsers(t, summaries.all(), 100)

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
}

// TestMaxRPSHoldsAcrossDeath measures a rate, so it does not run in
// parallel with other tests.
func TestMaxRPSHoldsAcrossDeath(t *testing.T) {
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const (
		run      = "max-rps-death"
		duration = 14 * time.Second
	)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: max-rps-death
target: %s
users: 30
spawn_rate: 100
duration: %s
max_rps: 100
workers:
  min: 3
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL, duration))
	out := filepath.Join(t.TempDir(), "summary.json")

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	summaries := recordSubject(t, server.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, server.URL(), run, 3)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	views.await(t, 0, exitTimeout, coord, func(m recordedMsg) bool {
		return countUsers(decodeWorkers(t, m.msg), 10) == 3
	}, "all 3 workers run 10 users each and have reported")
	first := summaries.await(t, 0, 5*time.Second, coord, func(m recordedMsg) bool {
		return decodeJSON(t, m.msg)["state"] == "running"
	}, "a live summary shows the run running")
	elapsed, _ := decodeJSON(t, summaries.at(first).msg)["elapsed_s"].(float64)
	runEnd := summaries.at(first).at.Add(duration - time.Duration(elapsed*float64(time.Second)))

	// Count the target's requests once per second until shortly before
	// the plan's duration ends, and kill a worker after 5 s.
	var killed time.Time
	samples := []countSample{{at: time.Now(), total: target.Total()}}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for time.Now().Add(time.Second).Before(runEnd.Add(-200 * time.Millisecond)) {
		now := <-ticker.C
		samples = append(samples, countSample{at: now, total: target.Total()})
		if killed.IsZero() && now.Sub(samples[0].at) >= 5*time.Second {
			workers[1].Kill()
			killed = time.Now()
		}
	}
	if killed.IsZero() {
		t.Fatalf("the run ended before a worker was killed; samples: %v", samples)
	}

	// Within a lease and two report intervals of the kill, the workers
	// left take over the killed worker's part of max_rps.
	recovered := killed.Add(leaseDuration + 2*reportIntervalDuration)
	before, after := 0, 0
	for i := 1; i < len(samples); i++ {
		from, to := samples[i-1], samples[i]
		rps := float64(to.total-from.total) / to.at.Sub(from.at).Seconds()
		window := fmt.Sprintf("%.1f s to %.1f s after the kill",
			from.at.Sub(killed).Seconds(), to.at.Sub(killed).Seconds())
		if rps > 115 {
			t.Errorf("target received %.1f requests per second %s, want at most 115", rps, window)
		}
		steady := !to.at.After(killed) || !from.at.Before(recovered)
		if !steady {
			t.Logf("target received %.1f requests per second %s", rps, window)
			continue
		}
		if !to.at.After(killed) {
			before++
		} else {
			after++
		}
		if rps < 90 || rps > 110 {
			t.Errorf("target received %.1f requests per second %s, want 100 within 10%%", rps, window)
		} else {
			t.Logf("target received %.1f requests per second %s", rps, window)
		}
	}
	if before < 3 || after < 3 {
		t.Errorf("measured %d one-second windows before the kill and %d after the recovery, want at least 3 of each",
			before, after)
	}

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], workers[2]})
	s := readSummary(t, out)
	total := target.Total()
	if s.Requests < 1 || s.Requests > uint64(total) {
		t.Errorf("summary requests = %d, want from 1 to the %d the target received", s.Requests, total)
	}
}

func TestTerminatedWorkerHandsOverAtOnce(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "terminated-worker"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: terminated-worker
target: %s
users: 20
spawn_rate: 100
duration: 15s
max_rps: 200
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	stayingID := run + "-w0"

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	workers := startWorkers(t, worker, server.URL(), run, 2)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	views.await(t, 0, exitTimeout, coord, func(m recordedMsg) bool {
		return countUsers(decodeWorkers(t, m.msg), 10) == 2
	}, "both workers run 10 users each and have reported")

	from := views.len()
	if err := workers[1].Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	terminated := time.Now()
	if code := waitExit(t, workers[1], 5*time.Second); code != 0 {
		t.Errorf("terminated worker exit code = %d, want 0", code)
	}
	exited := time.Now()
	t.Logf("terminated worker exited %s after SIGTERM", exited.Sub(terminated).Round(time.Millisecond))

	// The terminated worker deletes its presence before it exits, so its
	// users move without waiting for its lease to expire.
	all := views.await(t, from, 5*time.Second, coord, func(m recordedMsg) bool {
		v, _ := findView(decodeWorkers(t, m.msg), stayingID)
		return v.Users == 20
	}, "the worker left runs all 20 users")
	v, _ := findView(decodeWorkers(t, views.at(all).msg), stayingID)
	took := reportTime(views.at(all).at, v).Sub(exited)
	t.Logf("worker left reported 20 users %s after the other exited", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Errorf("worker left reported 20 users %s after the other exited, want within 1.5 s, well under the %s lease",
			took.Round(time.Millisecond), leaseDuration)
	}

	if code := waitExit(t, coord, 15*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers[:1])
	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Lost != 0 {
		t.Errorf("workers_lost = %d, want 0: the terminated worker sent its final report", s.Lost)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
}

func TestMoreWorkersThanUsers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "more-workers"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: more-workers
target: %s
users: 3
spawn_rate: 100
duration: 4s
max_rps: 60
workers:
  min: 5
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	views := recordSubject(t, server.URL(), "stats."+run+".workers")
	workers := startWorkers(t, worker, server.URL(), run, 5)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	reported := views.await(t, 0, exitTimeout, coord, func(m recordedMsg) bool {
		n := 0
		for _, v := range decodeWorkers(t, m.msg) {
			if v.LastReportAgeS >= 0 {
				n++
			}
		}
		return n == 5
	}, "all 5 workers have reported")
	busy, idle := 0, 0
	for _, v := range decodeWorkers(t, views.at(reported).msg) {
		switch v.Users {
		case 1:
			busy++
		case 0:
			idle++
			if v.State != "running" && v.State != "ready" {
				t.Errorf("idle worker %s has state %q, want running or ready", v.ID, v.State)
			}
		default:
			t.Errorf("worker %s runs %d users, want 0 or 1", v.ID, v.Users)
		}
	}
	if busy != 3 || idle != 2 {
		t.Errorf("%d workers run 1 user and %d run none, want 3 and 2", busy, idle)
	}

	if code := waitExit(t, coord, 4*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)
	for _, m := range views.all() {
		for _, v := range decodeWorkers(t, m.msg) {
			if v.Users > 1 {
				t.Errorf("worker %s ran %d users at some point, want at most 1", v.ID, v.Users)
			}
		}
	}

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Workers != 5 {
		t.Errorf("workers = %d, want 5", s.Workers)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if s.Requests == 0 {
		t.Error("summary requests = 0, want the 3 users to have sent requests")
	}
}

// shareSubject returns the subject of the key-value updates of a worker's
// share.
func shareSubject(run, worker string) string {
	return "$KV." + bus.Bucket + "." + bus.ShareKey(run, worker)
}

// countUsers returns how many workers have reported and run exactly users.
func countUsers(views []workerView, users int) int {
	n := 0
	for _, v := range views {
		if v.Users == users && v.LastReportAgeS >= 0 {
			n++
		}
	}
	return n
}

// liveViews returns the workers still present.
func liveViews(views []workerView) []workerView {
	return slices.DeleteFunc(slices.Clone(views), func(v workerView) bool { return v.State == "gone" })
}

// findView returns the view of the worker with id, and whether there is one.
func findView(views []workerView, id string) (workerView, bool) {
	for _, v := range views {
		if v.ID == id {
			return v, true
		}
	}
	return workerView{}, false
}

func sumUsers(views []workerView) int {
	n := 0
	for _, v := range views {
		n += v.Users
	}
	return n
}

// evenSplit reports whether views run users in total, each within one user
// of the others.
func evenSplit(views []workerView, users int) bool {
	if len(views) == 0 {
		return false
	}
	lowest, highest := views[0].Users, views[0].Users
	for _, v := range views {
		lowest, highest = min(lowest, v.Users), max(highest, v.Users)
	}
	return sumUsers(views) == users && highest-lowest <= 1
}

// reportTime returns when the worker sent the report that v shows: the
// time its message arrived minus the report's age.
func reportTime(arrived time.Time, v workerView) time.Time {
	return arrived.Add(-time.Duration(v.LastReportAgeS * float64(time.Second)))
}

// userSample is a worker's user count at the time of one report.
type userSample struct {
	at    time.Time
	users int
}

// userSamples returns the user counts of the worker with id in msgs, at
// the times of the reports they show.
func userSamples(t *testing.T, msgs []recordedMsg, id string) []userSample {
	t.Helper()
	var samples []userSample
	for _, m := range msgs {
		v, ok := findView(decodeWorkers(t, m.msg), id)
		if ok && v.LastReportAgeS >= 0 {
			samples = append(samples, userSample{at: reportTime(m.at, v), users: v.Users})
		}
	}
	return samples
}

// checkSpawnRate checks that between any two samples the worker with id
// gained no more than rate users per second plus slack. The first sample
// is the moment its share was written.
func checkSpawnRate(t *testing.T, id string, samples []userSample, rate float64, slack int) {
	t.Helper()
	var lines []string
	for _, s := range samples {
		lines = append(lines, fmt.Sprintf("%s: %d", s.at.Sub(samples[0].at).Round(time.Millisecond), s.users))
	}
	t.Logf("users of %s after its share was written: %s", id, strings.Join(lines, ", "))
	for i, early := range samples {
		for _, late := range samples[i+1:] {
			seconds := late.at.Sub(early.at).Seconds()
			if gained := late.users - early.users; float64(gained) > rate*seconds+float64(slack) {
				t.Errorf("%s gained %d users in %.2f s, want at most %.0f per second plus %d",
					id, gained, seconds, rate, slack)
				return
			}
		}
	}
}

// checkFleetUsers checks that the live workers in each stats.<run>.workers
// message of msgs run at most limit users in total. Each worker's count is
// that of its newest report. A fleet that moves users at spawnRate stops
// up to spawnRate users per second. The counts of reports sent t seconds
// apart can therefore add up to about spawnRate*t more users than the
// fleet ran at any one moment, and the check allows for that.
func checkFleetUsers(t *testing.T, msgs []recordedMsg, limit int, spawnRate float64) {
	t.Helper()
	maxUsers, maxAllowed := 0, 0
	for _, m := range msgs {
		users := 0
		oldest, newest := 0.0, math.Inf(1)
		for _, v := range liveViews(decodeWorkers(t, m.msg)) {
			users += v.Users
			if v.LastReportAgeS >= 0 {
				oldest = max(oldest, v.LastReportAgeS)
				newest = min(newest, v.LastReportAgeS)
			}
		}
		spread := max(0, oldest-newest)
		allowed := limit + int(math.Ceil(spawnRate*spread))
		if users > allowed {
			t.Errorf("workers reported %d users in total, want at most %d: %d plus %.2f s between reports at %v per second\n%s",
				users, allowed, limit, spread, spawnRate, m.msg.Data)
			return
		}
		if users > maxUsers {
			maxUsers, maxAllowed = users, allowed
		}
	}
	t.Logf("workers reported at most %d users in total, where %d were allowed", maxUsers, maxAllowed)
}

// checkMaxUsers checks that no live summary in msgs shows more than limit
// users, and names the first summary with the maximum.
func checkMaxUsers(t *testing.T, msgs []recordedMsg, limit float64) {
	t.Helper()
	var maxUsers, maxAt float64
	for _, m := range msgs {
		s := decodeJSON(t, m.msg)
		if users, _ := s["users"].(float64); users > maxUsers {
			maxUsers = users
			maxAt, _ = s["elapsed_s"].(float64)
		}
	}
	if maxUsers > limit {
		t.Errorf("live summary at %.1f s shows %v users, want at most %v", maxAt, maxUsers, limit)
	} else {
		t.Logf("live summaries show at most %v users, first at %.1f s", maxUsers, maxAt)
	}
}

// countSample is the target's request count at one moment.
type countSample struct {
	at    time.Time
	total int64
}
