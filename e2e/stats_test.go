package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/testutil"
)

// liveSummaryKeys are the keys of every message on stats.<run>.summary.
var liveSummaryKeys = []string{
	"run", "state", "elapsed_s", "users", "workers", "requests", "failures", "rps", "latency_ms",
}

// TestNatsCLISeesLiveStats reads the run's statistics the way a user
// would, with `nats sub --raw 'stats.>'`. It does not run in parallel
// because the first build of the nats CLI takes minutes of both cores.
func TestNatsCLISeesLiveStats(t *testing.T) {
	natsCLI := testutil.NatsCLI(t)
	coordinator, _ := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "live-stats"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: live-stats
target: %s
users: 4
spawn_rate: 100
duration: 4s
max_rps: 1000
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	sub := testutil.StartProcess(t, natsCLI, "--server", server.URL(), "--no-context", "sub", "--raw", "stats.>")
	waitSubscribed(t, server.URL(), sub)

	coord := testutil.StartProcess(t, coordinator, "start", plan,
		"--nats", server.URL(), "--local-workers", "1", "--run", run, "--out", out,
		"--report-interval", reportInterval, "--lease", lease)
	if code := waitExit(t, coord, 4*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(sub.Stdout(), `"duration_s"`)
	}, "nats sub prints the final summary")
	sub.Kill()

	var summaries, finals []map[string]any
	for _, line := range strings.Split(sub.Stdout(), "\n") {
		if line == "" || strings.Contains(line, probeMarker) {
			continue
		}
		var msg map[string]any
		if err := json.Unmarshal([]byte(line), &msg); err != nil {
			t.Errorf("nats sub printed a line that is not a JSON object: %v\n%s", err, line)
			continue
		}
		switch {
		case msg["duration_s"] != nil:
			finals = append(finals, msg)
		case msg["state"] != nil:
			summaries = append(summaries, msg)
		}
	}

	if len(summaries) < 2 {
		t.Errorf("nats sub printed %d live summaries, want at least 2 in a 4 s run with a 500ms interval", len(summaries))
	}
	for i, msg := range summaries {
		checkKeys(t, fmt.Sprintf("summary %d", i), msg, liveSummaryKeys)
		if msg["run"] != run {
			t.Errorf("summary %d: run = %v, want %q", i, msg["run"], run)
		}
		latency, ok := msg["latency_ms"].(map[string]any)
		if !ok {
			t.Errorf("summary %d: latency_ms = %v, want an object", i, msg["latency_ms"])
			continue
		}
		checkKeys(t, fmt.Sprintf("summary %d latency_ms", i), latency, latencyKeys)
	}

	if len(finals) != 1 {
		t.Fatalf("nats sub printed %d final summaries, want 1", len(finals))
	}
	final := finals[0]
	checkKeys(t, "final summary", final, summaryKeys)
	if final["run"] != run {
		t.Errorf("final summary: run = %v, want %q", final["run"], run)
	}
	total := target.Total()
	if total == 0 {
		t.Fatal("target received no request")
	}
	if got, ok := final["requests"].(float64); !ok || got != float64(total) {
		t.Errorf("final summary requests = %v, target received %d", final["requests"], total)
	}
	if s := readSummary(t, out); s.Requests != uint64(total) {
		t.Errorf("--out requests = %d, target received %d", s.Requests, total)
	}
}

// probeMarker is in the payload of the messages that waitSubscribed sends.
const probeMarker = "barrage-e2e-probe"

// waitSubscribed publishes probes on a stats subject until the nats CLI
// subscription prints one, so that no statistic is sent before it listens.
func waitSubscribed(t *testing.T, url string, sub *testutil.Process) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	defer nc.Close()
	testutil.Eventually(t, 15*time.Second, func() bool {
		if sub.Exited() {
			t.Fatalf("nats sub exited early:\n%s", sub.Stderr())
		}
		if err := nc.Publish("stats.probe", []byte(`{"`+probeMarker+`": true}`)); err != nil {
			t.Fatalf("publish probe: %v", err)
		}
		return strings.Contains(sub.Stdout(), probeMarker)
	}, "nats sub prints a probe message")
}

// checkKeys checks that msg has every key in keys.
func checkKeys(t *testing.T, what string, msg map[string]any, keys []string) {
	t.Helper()
	for _, key := range keys {
		if _, ok := msg[key]; !ok {
			t.Errorf("%s has no key %q: %v", what, key, msg)
		}
	}
}
