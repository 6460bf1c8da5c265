// Package e2e runs the real coordinator and worker binaries against an
// embedded NATS server and a target that counts what it receives, and
// checks every reported number against the target's own count.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// Short intervals keep the runs, and the detection of a lost worker, short.
const (
	reportInterval = "500ms"
	lease          = "2s"

	reportIntervalDuration = 500 * time.Millisecond
	leaseDuration          = 2 * time.Second
)

// exitTimeout bounds how long a test waits for a process beyond the run
// time of its plan.
const exitTimeout = 30 * time.Second

// summary is the JSON that `coordinator start --out` writes.
type summary struct {
	Run       string        `json:"run"`
	Started   time.Time     `json:"started"`
	Ended     time.Time     `json:"ended"`
	DurationS float64       `json:"duration_s"`
	Requests  uint64        `json:"requests"`
	Failures  uint64        `json:"failures"`
	Bytes     uint64        `json:"bytes"`
	RPS       float64       `json:"rps"`
	LatencyMS latency       `json:"latency_ms"`
	ServiceMS *latency      `json:"service_ms"`
	Dropped   uint64        `json:"dropped_arrivals"`
	Tasks     []taskSummary `json:"tasks"`
	Errors    []errorCount  `json:"errors"`
	Workers   int           `json:"workers"`
	Complete  bool          `json:"complete"`
	Lost      int           `json:"workers_lost"`
	Problem   string        `json:"problem"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type taskSummary struct {
	Name      string  `json:"name"`
	Requests  uint64  `json:"requests"`
	Failures  uint64  `json:"failures"`
	Bytes     uint64  `json:"bytes"`
	RPS       float64 `json:"rps"`
	LatencyMS latency `json:"latency_ms"`
}

type errorCount struct {
	Message string `json:"message"`
	Count   uint64 `json:"count"`
}

// summaryKeys are the top-level keys that every final summary carries.
var summaryKeys = []string{
	"run", "started", "ended", "duration_s", "requests", "failures", "bytes",
	"rps", "latency_ms", "tasks", "errors", "workers",
}

// latencyKeys are the keys of every latency_ms object.
var latencyKeys = []string{"p50", "p90", "p95", "p99", "max"}

// readSummary reads the --out file at path and checks that it has every
// documented key.
func readSummary(t *testing.T, path string) summary {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read summary: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatalf("summary %s is not a JSON object: %v\n%s", path, err, data)
	}
	for _, key := range summaryKeys {
		if _, ok := fields[key]; !ok {
			t.Errorf("summary has no key %q:\n%s", key, data)
		}
	}
	var s summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode summary %s: %v\n%s", path, err, data)
	}
	return s
}

// task returns the summary of the task called name, failing the test when
// there is none.
func (s summary) task(t *testing.T, name string) taskSummary {
	t.Helper()
	for _, task := range s.Tasks {
		if task.Name == name {
			return task
		}
	}
	t.Fatalf("summary has no task %q; tasks: %+v", name, s.Tasks)
	return taskSummary{}
}

// binaries builds the coordinator and worker once per test process.
func binaries(t *testing.T) (coordinator, worker string) {
	t.Helper()
	return testutil.BuildBinaries(t)
}

// startWorkers starts n worker processes that join run on the NATS server
// at url, with the ids <run>-w0, <run>-w1 and so on.
func startWorkers(t *testing.T, worker, url, run string, n int) []*testutil.Process {
	t.Helper()
	procs := make([]*testutil.Process, n)
	for i := range procs {
		procs[i] = testutil.StartProcess(t, worker,
			"--nats", url, "--run", run, "--id", fmt.Sprintf("%s-w%d", run, i), "--connect-timeout", "10s")
	}
	return procs
}

// startCoordinator runs `coordinator start` with plan on the NATS server at
// url, without local workers, and writes the summary to out.
func startCoordinator(t *testing.T, coordinator, url, run, plan, out string) *testutil.Process {
	t.Helper()
	return testutil.StartProcess(t, coordinator, "start", plan,
		"--nats", url, "--local-workers", "0", "--run", run, "--out", out,
		"--report-interval", reportInterval, "--lease", lease)
}

// waitExit waits for p to exit and returns its exit code, failing the test
// when it still runs after timeout.
func waitExit(t *testing.T, p *testutil.Process, timeout time.Duration) int {
	t.Helper()
	code, err := p.Wait(timeout)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// checkWorkersExited checks that every worker exits with code 0 soon
// after the run ended.
func checkWorkersExited(t *testing.T, workers []*testutil.Process) {
	t.Helper()
	for i, w := range workers {
		code, err := w.Wait(15 * time.Second)
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
			continue
		}
		if code != 0 {
			t.Errorf("worker %d exit code = %d, want 0", i, code)
		}
	}
}

// lineOf returns the 1-based line of the first line of text that starts
// with prefix, failing the test when there is none.
func lineOf(t *testing.T, text, prefix string) int {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return i + 1
		}
	}
	t.Fatalf("no line starts with %q", prefix)
	return 0
}
