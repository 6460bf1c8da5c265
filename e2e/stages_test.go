package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestStagesRampUsers runs a plan whose stages ramp 20 users up over 3 s,
// hold them for 3 s and ramp them down over 2 s, on 2 worker processes,
// and follows the users in the live summaries.
func TestStagesRampUsers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "stages"
	// max_rps bounds the load, so that the timing of the ramps does not
	// depend on how fast the machine runs the target.
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: stages
target: %s
max_rps: 400
stages:
  - {duration: 3s, users: 20}
  - {duration: 3s, users: 20}
  - {duration: 2s, users: 0}
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	summaries := recordSubject(t, nats.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	if code := waitExit(t, coord, 8*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.DurationS < 7.5 || s.DurationS > 10 {
		t.Errorf("duration_s = %.2f, want about 8, the sum of the stages", s.DurationS)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if s.Requests == 0 {
		t.Errorf("summary requests = 0, want some")
	}

	// Each live summary gives the users of the workers' last reports, which
	// lag the coordinator's target by up to a report interval.
	type sample struct {
		elapsed float64
		users   int
	}
	var samples []sample
	for _, m := range summaries.all() {
		body := decodeJSON(t, m.msg)
		if body["state"] != "running" {
			continue
		}
		elapsed, _ := body["elapsed_s"].(float64)
		users, _ := body["users"].(float64)
		samples = append(samples, sample{elapsed, int(users)})
	}
	t.Logf("users by elapsed time: %v", samples)
	if len(samples) < 10 {
		t.Fatalf("got %d live summaries of the running run, want at least 10", len(samples))
	}

	reached := -1.0
	lowAtEnd := 20
	for i, smp := range samples {
		if smp.users > 20 {
			t.Errorf("users = %d at %.2f s, want at most 20", smp.users, smp.elapsed)
		}
		if reached < 0 && smp.users >= 18 {
			reached = smp.elapsed
		}
		// From 3 s to 6 s the plan holds 20 users. Summaries show reports
		// up to two intervals old on a loaded machine, hence 4 s.
		if smp.elapsed >= 4 && smp.elapsed <= 6 && smp.users < 18 {
			t.Errorf("users = %d at %.2f s, want 18 to 20 while the stage holds 20", smp.users, smp.elapsed)
		}
		// From 6 s the plan ramps down, so no summary after that shows
		// more users than the one before it.
		if i > 0 && smp.elapsed >= 6.5 && smp.users > samples[i-1].users {
			t.Errorf("users rose from %d to %d at %.2f s, during the ramp down",
				samples[i-1].users, smp.users, smp.elapsed)
		}
		if smp.elapsed >= 7 {
			lowAtEnd = min(lowAtEnd, smp.users)
		}
	}
	// The target reaches 20 at 3 s. Summaries come every report interval
	// and, on a loaded machine, show reports up to two intervals old.
	limit := 3.5 + 2*reportIntervalDuration.Seconds()
	switch {
	case reached < 0:
		t.Errorf("users never reached 18")
	case reached > limit:
		t.Errorf("users reached 18 at %.2f s, want within %.1f s", reached, limit)
	}
	// The target is 5 users at 7 s and 2 at 7.5 s, and the summaries lag
	// it by up to about a second.
	if lowAtEnd > 12 {
		t.Errorf("users after 7 s were at least %d, want them to fall to 12 or fewer", lowAtEnd)
	}
}

// TestStagesShortProfile runs stages of 2 s at 5 users, 2 s at 20 and 1 s
// down to 0, and checks that the run lasts about 5 s and that the live
// users figure rises and falls with them.
func TestStagesShortProfile(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "stages-short"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: stages-short
target: %s
max_rps: 300
stages:
  - {duration: 2s, users: 5}
  - {duration: 2s, users: 20}
  - {duration: 1s, users: 0}
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	summaries := recordSubject(t, nats.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, nats.URL(), run, 1)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, 5*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if s.DurationS < 4.8 || s.DurationS > 6.5 {
		t.Errorf("duration_s = %.2f, want about 5, the sum of the stages", s.DurationS)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}

	var early, peak, late = -1, 0, -1
	for _, m := range summaries.all() {
		body := decodeJSON(t, m.msg)
		if body["state"] != "running" {
			continue
		}
		elapsed, _ := body["elapsed_s"].(float64)
		users := int(body["users"].(float64))
		switch {
		case users > 20:
			t.Errorf("users = %d at %.2f s, want at most 20", users, elapsed)
		case elapsed >= 1.2 && elapsed <= 2.2:
			early = max(early, users)
		case elapsed > 2.2 && elapsed <= 4.6:
			peak = max(peak, users)
		case elapsed > 4.6:
			late = users
		}
		t.Logf("users %d at %.2f s", users, elapsed)
	}
	// Reports lag the coordinator's target by up to a report interval.
	if early > 8 {
		t.Errorf("users reached %d before 2.2 s, want at most about 5", early)
	}
	if peak < 15 {
		t.Errorf("users peaked at %d between 2.2 s and 4.6 s, want about 20", peak)
	}
	if late >= peak {
		t.Errorf("users were %d after 4.6 s, want them below the peak of %d", late, peak)
	}
}
