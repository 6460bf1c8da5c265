package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestMaxRPSCapsFleetRate measures a rate, so it does not run in parallel
// with other tests.
func TestMaxRPSCapsFleetRate(t *testing.T) {
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "max-rps"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: max-rps
target: %s
users: 20
spawn_rate: 1000
duration: 5s
max_rps: 200
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, 5*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	// 200 requests per second for 5 s, within 2 %.
	total := target.Total()
	t.Logf("target received %d requests", total)
	if total < 980 || total > 1020 {
		t.Errorf("target received %d requests, want 1000 within 2%% (980 to 1020)", total)
	}
	if s.Requests != uint64(total) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, total)
	}
	if s.Workers != 2 {
		t.Errorf("workers = %d, want 2", s.Workers)
	}
}
