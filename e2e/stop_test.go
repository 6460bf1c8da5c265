package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/testutil"
)

func TestInterruptWritesPartialSummary(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	target := testutil.NewTarget(t, nil)
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: interrupted
target: %s
users: 4
spawn_rate: 100
duration: 60s
max_rps: 500
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	coord := testutil.StartProcess(t, coordinator, "start", "--listen", "127.0.0.1:0", "--out", out,
		"--report-interval", reportInterval, "--lease", lease, plan)
	// 250 requests take half a second at max_rps, so at least one
	// interval report was sent before the stop.
	testutil.Eventually(t, exitTimeout, func() bool {
		return target.Total() >= 250 || coord.Exited()
	}, "the target receives 250 requests")
	if coord.Exited() {
		t.Fatal("coordinator exited before the target received 250 requests")
	}
	if err := coord.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("send SIGINT: %v", err)
	}
	interrupted := time.Now()

	code := waitExit(t, coord, 15*time.Second)
	t.Logf("coordinator exited %s after SIGINT", time.Since(interrupted).Round(time.Millisecond))
	if code != 1 {
		t.Errorf("coordinator exit code = %d, want 1 for a run stopped before its end", code)
	}
	stdout := coord.Stdout()
	if !strings.Contains(stdout, "requests") || !strings.Contains(stdout, "total") {
		t.Errorf("coordinator printed no summary table:\n%s", stdout)
	}

	s := readSummary(t, out)
	// The coordinator and its local worker have exited, so the target's
	// count is final.
	if s.Requests != uint64(target.Total()) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, target.Total())
	}
	if s.Complete {
		t.Error("complete = true for a run stopped by SIGINT")
	}
	if !strings.Contains(s.Problem, "stopped") {
		t.Errorf("problem = %q, want it to say the run was stopped", s.Problem)
	}
	if s.DurationS >= 60 {
		t.Errorf("duration_s = %.1f, want less than the plan's 60 s", s.DurationS)
	}
}

// workerView is one entry of a stats.<run>.workers message.
type workerView struct {
	ID             string  `json:"id"`
	Users          int     `json:"users"`
	Shares         []int   `json:"shares"`
	State          string  `json:"state"`
	LastReportAgeS float64 `json:"last_report_age_s"`
}

func TestKilledWorkerUsersMove(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "killed-worker"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: killed-worker
target: %s
users: 30
spawn_rate: 100
duration: 12s
max_rps: 600
workers:
  min: 3
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	views := watchWorkers(t, server.URL(), run)
	summaries := watchSubject(t, server.URL(), "stats."+run+".summary")
	workers := startWorkers(t, worker, server.URL(), run, 3)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	// Kill a worker only once every worker runs its 10 users and has
	// reported, so that the killed one held users that must move.
	testutil.Eventually(t, exitTimeout, func() bool {
		select {
		case msg := <-views:
			running := 0
			for _, v := range decodeWorkers(t, msg) {
				if v.Users == 10 && v.LastReportAgeS >= 0 {
					running++
				}
			}
			return running == 3
		default:
			return coord.Exited()
		}
	}, "all 3 workers run 10 users each and have reported")
	if coord.Exited() {
		t.Fatal("coordinator exited before all 3 workers ran users")
	}
	workers[1].Kill()
	killed := time.Now()
	if code := waitExit(t, workers[1], 5*time.Second); code != -1 {
		t.Errorf("killed worker exit code = %d, want -1 (ended by a signal)", code)
	}

	// Within a lease and a report interval, plus the time for 10 users at
	// the spawn rate and one more interval for the summary to show them.
	limit := leaseDuration + 2*reportIntervalDuration + time.Second
	var last map[string]any
	testutil.Eventually(t, limit+5*time.Second, func() bool {
		select {
		case msg := <-summaries:
			last = decodeJSON(t, msg)
			return last["users"] == 30.0 && last["workers"] == 2.0
		default:
			return false
		}
	}, "summary shows 30 users on 2 workers")
	if took := time.Since(killed); took > limit {
		t.Errorf("users moved %s after the kill, want within %s", took.Round(time.Millisecond), limit)
	}

	if code := waitExit(t, coord, 12*time.Second+exitTimeout); code != 0 {
		t.Errorf("coordinator exit code = %d, want 0: the remaining workers finished the run", code)
	}
	checkWorkersExited(t, []*testutil.Process{workers[0], workers[2]})

	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("complete = false (%s), want true", s.Problem)
	}
	if s.Lost != 1 {
		t.Errorf("workers_lost = %d, want 1", s.Lost)
	}
	if s.Workers != 3 {
		t.Errorf("workers = %d, want 3", s.Workers)
	}
	// The killed worker's last interval never reached the coordinator, so
	// the summary may count fewer requests than the target received.
	total := target.Total()
	if s.Requests < 1 || s.Requests > uint64(total) {
		t.Errorf("summary requests = %d, want from 1 to the %d the target received", s.Requests, total)
	}
}

// watchSubject subscribes to subject and returns a channel of its
// messages. Messages that arrive while the channel is full are dropped.
func watchSubject(t *testing.T, url, subject string) <-chan *nats.Msg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	msgs := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe(subject, msgs); err != nil {
		t.Fatalf("subscribe to %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return msgs
}

// decodeJSON decodes a JSON object message.
func decodeJSON(t *testing.T, msg *nats.Msg) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(msg.Data, &body); err != nil {
		t.Fatalf("%s carries invalid JSON: %v\n%s", msg.Subject, err, msg.Data)
	}
	return body
}

// watchWorkers subscribes to stats.<run>.workers and returns a channel of
// its messages. Messages that arrive while the channel is full are dropped.
func watchWorkers(t *testing.T, url, run string) <-chan *nats.Msg {
	t.Helper()
	return watchSubject(t, url, "stats."+run+".workers")
}

// decodeWorkers decodes a stats.<run>.workers message.
func decodeWorkers(t *testing.T, msg *nats.Msg) []workerView {
	t.Helper()
	var body struct {
		Workers []workerView `json:"workers"`
	}
	if err := json.Unmarshal(msg.Data, &body); err != nil {
		t.Fatalf("%s carries invalid JSON: %v\n%s", msg.Subject, err, msg.Data)
	}
	return body.Workers
}
