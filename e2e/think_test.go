package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestThinkTimeEndsWithRun runs a 10 s plan whose users think for 60 s
// after each request. The run ends at its duration, well before the think
// time passes, with one request per user.
func TestThinkTimeEndsWithRun(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const (
		run   = "think"
		users = 3
	)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: think
target: %s
users: %d
spawn_rate: 100
duration: 10s
think_time: 60s
tasks:
  - name: home
    url: /home
`, target.URL, users))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 1)
	start := time.Now()
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)

	// The limit leaves time for the worker to join and for the final
	// reports, and stays far below the 60 s think time.
	if code := waitExit(t, coord, 25*time.Second); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	t.Logf("coordinator exited %s after it started", time.Since(start).Round(time.Millisecond))
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false, problem %q; want a complete run", s.Problem)
	}
	if s.DurationS < 9.5 || s.DurationS > 15 {
		t.Errorf("duration_s = %.2f, want about 10, the plan's duration", s.DurationS)
	}
	if n := target.Total(); n != users {
		t.Errorf("target received %d requests, want %d, one per user before its think time", n, users)
	}
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
}
