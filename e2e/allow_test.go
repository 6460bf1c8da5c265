package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

func TestAllowTargetRejectsPlan(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "allow-reject"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: allow-reject
target: %s
users: 2
duration: 2s
workers:
  min: 1
  join_timeout: 3s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	w := testutil.StartProcess(t, worker, "--nats", nats.URL(), "--run", run, "--id", "private-only",
		"--allow-target", "10.0.0.0/8", "--connect-timeout", "10s")
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, exitTimeout); code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 when the only worker rejects the run", code)
	}
	if code := waitExit(t, w, exitTimeout); code != 1 {
		t.Errorf("worker exit code = %d, want 1 after rejecting the run", code)
	}
	if n := target.Total(); n != 0 {
		t.Errorf("target received %d requests from a worker allowed only 10.0.0.0/8", n)
	}
	for name, text := range map[string]string{"worker": w.Stderr(), "coordinator": coord.Stderr()} {
		if !strings.Contains(text, "not allowed by --allow-target 10.0.0.0/8") {
			t.Errorf("%s log does not say why the run was rejected:\n%s", name, text)
		}
	}

	// The summary of the run that never started still states why.
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no summary for a run that never started: %v", err)
	}
	var s struct {
		Complete   bool
		Problem    string
		Requests   uint64
		Rejections []struct{ Worker, Reason string }
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if s.Complete || s.Requests != 0 || !strings.Contains(s.Problem, "not enough workers joined") {
		t.Errorf("summary complete = %v, requests = %d, problem %q; want an incomplete run without requests that says why",
			s.Complete, s.Requests, s.Problem)
	}
	if len(s.Rejections) != 1 || s.Rejections[0].Worker != "private-only" {
		t.Errorf("rejections = %+v, want the worker private-only", s.Rejections)
	}
}

func TestAllowTargetRejectionInSummary(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "allow-mixed"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: allow-mixed
target: %s
users: 2
duration: 2s
workers:
  min: 1
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	rejecting := testutil.StartProcess(t, worker, "--nats", nats.URL(), "--run", run, "--id", "private-only",
		"--allow-target", "10.0.0.0/8", "--connect-timeout", "10s")
	allowed := testutil.StartProcess(t, worker, "--nats", nats.URL(), "--run", run, "--id", "loopback",
		"--allow-target", "127.0.0.0/8", "--connect-timeout", "10s")
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, 2*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0\n%s", code, coord.Stderr())
	}
	checkWorkersExited(t, []*testutil.Process{allowed})
	if code := waitExit(t, rejecting, exitTimeout); code != 1 {
		t.Errorf("rejecting worker exit code = %d, want 1", code)
	}

	s := readSummary(t, out)
	if s.Requests == 0 || s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Rejections []struct{ Worker, Reason string } `json:"rejections"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		t.Fatal(err)
	}
	if len(extra.Rejections) != 1 || extra.Rejections[0].Worker != "private-only" ||
		!strings.Contains(extra.Rejections[0].Reason, "not allowed") {
		t.Errorf("rejections = %+v, want the worker private-only with its reason", extra.Rejections)
	}
	if !strings.Contains(coord.Stdout(), "worker private-only rejected the run") {
		t.Errorf("final table does not show the rejection:\n%s", coord.Stdout())
	}
}
