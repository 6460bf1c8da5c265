package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barrage-load/barrage/internal/testutil"
)

// A NATS server killed and started again with the same port and store
// mid-run costs no report: coordinator and workers reconnect, the run goes
// on, and the summary counts what the target received.
func TestNATSRestartMidRun(t *testing.T) {
	coordinator, worker := binaries(t)
	server := testutil.StartNATSServer(t)
	url := server.URL()
	target := testutil.NewTarget(t, nil)
	const run = "outage"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: outage
target: %s
users: 4
spawn_rate: 100
duration: 8s
max_rps: 300
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	// A lease of 5 s outlasts the restart, which takes well under a
	// second here, with room for a loaded machine.
	coord := testutil.StartProcess(t, coordinator, "start", plan, "--nats", url, "--local-workers", "0",
		"--run", run, "--out", out, "--report-interval", reportInterval, "--lease", "5s")
	workers := startWorkers(t, worker, url, run, 2)

	testutil.Eventually(t, exitTimeout, func() bool { return target.Total() >= 600 || coord.Exited() },
		"the target receives 600 requests")
	if coord.Exited() {
		t.Fatalf("coordinator exited before the target received 600 requests")
	}
	killedAt := target.Total()
	server.Kill()
	// Everyone notices the outage before the server is back.
	processes := append([]*testutil.Process{coord}, workers...)
	testutil.Eventually(t, exitTimeout, func() bool {
		for _, p := range processes {
			if !strings.Contains(p.Stderr(), "disconnected from nats") {
				return false
			}
		}
		return true
	}, "the coordinator and the workers log that NATS is gone")
	server.Restart()

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)
	got := target.Total()
	t.Logf("restarted NATS after %d requests; the target received %d in all", killedAt, got)

	s := readSummary(t, out)
	diff := int64(s.Requests) - got
	if diff < 0 {
		diff = -diff
	}
	if diff*100 > got {
		t.Errorf("summary requests = %d, target received %d; want them within 1%%", s.Requests, got)
	}
	if !s.Complete || s.Workers != 2 || s.Lost != 0 {
		t.Errorf("summary: complete %v (%s), %d workers, %d lost; want complete with 2 and none lost",
			s.Complete, s.Problem, s.Workers, s.Lost)
	}
	if after := got - killedAt; after < killedAt/2 {
		t.Errorf("only %d requests after the restart, %d before; the load stopped", after, killedAt)
	}
	for i, p := range processes {
		if !strings.Contains(p.Stderr(), "reconnected to nats") {
			t.Errorf("process %d did not log its reconnect:\n%s", i, p.Stderr())
		}
	}
}
