package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

// lambdaTimeout is the function timeout the emulator enforces.
const lambdaTimeout = 4 * time.Second

// natsSecret is the password in the NATS URLs of the Lambda tests. The
// test server has no authorization, so it accepts any; the tests check
// that it appears in no output.
const natsSecret = "s3cret-pass"

// awsTestEnv points the AWS SDK at nothing real: static credentials that
// the emulator ignores, no shared files and no instance metadata.
var awsTestEnv = []string{
	"AWS_ACCESS_KEY_ID=barrage-test",
	"AWS_SECRET_ACCESS_KEY=barrage-test",
	"AWS_REGION=us-east-1",
	"AWS_EC2_METADATA_DISABLED=true",
	"AWS_CONFIG_FILE=/dev/null",
	"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
}

// lambdaResult is what the worker function returns.
type lambdaResult struct {
	Outcome string `json:"outcome"`
	Run     string `json:"run"`
	Worker  string `json:"worker"`
}

// withSecret returns url with the user barrage and natsSecret in it.
func withSecret(url string) string {
	return strings.Replace(url, "nats://", "nats://barrage:"+natsSecret+"@", 1)
}

func TestLambdaWorkersHandOverThroughEmulator(t *testing.T) {
	emulatorBin := testutil.RIE(t)
	bootstrap := testutil.LambdaBootstrap(t)
	coordinatorBin, _ := binaries(t)
	srv := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)

	emulator := testutil.StartEmulator(t, emulatorBin, bootstrap, lambdaTimeout,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512")
	proxy := testutil.NewLambdaProxy(t, emulator.URL)

	run := "lambda-handover"
	out := filepath.Join(t.TempDir(), "summary.json")
	planPath := testutil.WritePlan(t, fmt.Sprintf(`
target: %s
users: 2
duration: 10s
max_rps: 200
graceful_stop: 500ms
tasks:
  - name: home
    url: /
`, target.URL))
	coordinator := testutil.StartProcessWithEnv(t, awsTestEnv, coordinatorBin, "start", planPath,
		"--nats", srv.URL(), "--run", run, "--out", out,
		"--report-interval", reportInterval, "--lease", lease,
		"--launch", "lambda", "--workers", "1",
		"--lambda-function", "function", "--lambda-endpoint", proxy.URL,
		"--lambda-memory", "512",
		// Each invocation hands over 4s - 500ms - 700ms after it starts,
		// so handovers fall near 2.8 s, 5.6 s and 8.4 s, well apart from
		// the end of the run at 10 s.
		"--handover-margin", "700ms",
		"--advertise", withSecret(srv.URL()))

	if code := waitExit(t, coordinator, 10*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0\n%s", code, coordinator.Stderr())
	}
	s := readSummary(t, out)
	if !s.Complete {
		t.Errorf("summary complete = false, problem %q", s.Problem)
	}
	if got := target.Total(); got != int64(s.Requests) {
		t.Errorf("target received %d requests, summary counts %d", got, s.Requests)
	}

	checkLoadFlows(t, target.Arrivals(), 10)

	// Every worker but the last hands its share back before its deadline,
	// and each handover shows in the coordinator's log and the worker's.
	log := coordinator.Stderr()
	handovers := strings.Count(log, "worker handed its share back; starting a replacement")
	if handovers < 2 {
		t.Errorf("coordinator logged %d handovers, want at least 2 in a 10 s run of a 4 s function:\n%s", handovers, log)
	}
	replaced := strings.Count(log, "reason=replace")
	if replaced != handovers {
		t.Errorf("coordinator started %d replacements for %d handovers", replaced, handovers)
	}
	functionLog := emulator.Process.Stdout() + emulator.Process.Stderr()
	if got := strings.Count(functionLog, "handed the share back before the deadline"); got != handovers {
		t.Errorf("workers logged %d handovers, coordinator %d", got, handovers)
	}
	if s.Workers != handovers+1 {
		t.Errorf("summary workers = %d, want %d: one per handover and the last", s.Workers, handovers+1)
	}
	if s.Lost != 0 {
		t.Errorf("summary workers_lost = %d, want 0", s.Lost)
	}
	checkOutcomes(t, proxy.Results(), handovers)

	stdout := coordinator.Stdout()
	if !strings.Contains(stdout, "lambda cost estimate: USD") {
		t.Errorf("coordinator printed no cost estimate:\n%s", stdout)
	}
	if !strings.Contains(stdout, fmt.Sprintf("for %d invocations", handovers+1)) {
		t.Errorf("cost estimate does not count %d invocations:\n%s", handovers+1, stdout)
	}
	for name, text := range map[string]string{"coordinator": stdout + log, "function": functionLog} {
		if strings.Contains(text, natsSecret) {
			t.Errorf("the %s output contains the NATS password", name)
		}
	}
}

// checkLoadFlows checks that requests arrived in each of the first n
// seconds from the first request.
func checkLoadFlows(t *testing.T, arrivals []time.Time, n int) {
	t.Helper()
	if len(arrivals) == 0 {
		t.Fatal("the target received no request")
	}
	first := arrivals[0]
	perSecond := make([]int, n)
	for _, a := range arrivals {
		if i := int(a.Sub(first) / time.Second); i < n {
			perSecond[i]++
		}
	}
	for i, count := range perSecond {
		if count == 0 {
			t.Errorf("no request arrived in second %d of the run; requests per second: %v", i+1, perSecond)
		}
	}
}

// checkOutcomes checks the function's results: a handover for each
// replacement, and the run's end for the last invocation.
func checkOutcomes(t *testing.T, results []string, handovers int) {
	t.Helper()
	outcomes := make(map[string]int)
	for _, r := range results {
		var res lambdaResult
		if err := json.Unmarshal([]byte(r), &res); err != nil {
			t.Errorf("invalid function result %q: %v", r, err)
			continue
		}
		outcomes[res.Outcome]++
	}
	if outcomes["handed_over"] != handovers {
		t.Errorf("function results: %v; want %d handed_over", outcomes, handovers)
	}
	if outcomes["run_done"] != 1 {
		t.Errorf("function results: %v; want 1 run_done", outcomes)
	}
}

func TestLambdaSecondInvocationFindsNoSlot(t *testing.T) {
	emulatorBin := testutil.RIE(t)
	bootstrap := testutil.LambdaBootstrap(t)
	coordinatorBin, _ := binaries(t)
	srv := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)

	// workers.min 2 keeps the run waiting, so the first worker holds the
	// only slot and sends nothing.
	run := "lambda-second"
	planPath := testutil.WritePlan(t, fmt.Sprintf(`
target: %s
users: 2
duration: 10s
graceful_stop: 500ms
workers: {min: 2, join_timeout: 30s}
tasks:
  - name: home
    url: /
`, target.URL))
	coordinator := testutil.StartProcess(t, coordinatorBin, "start", planPath,
		"--nats", srv.URL(), "--local-workers", "0", "--run", run,
		"--report-interval", reportInterval, "--lease", lease)
	b := connectBus(context.Background(), t, srv.URL(), "lambda-test")
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := b.KV.Get(context.Background(), bus.RunKey(run))
		return err == nil
	}, "run %s is announced", run)

	event := fmt.Sprintf(`{"run":%q,"slots":1,"nats_url":%q}`, run, withSecret(srv.URL()))
	first := testutil.StartEmulator(t, emulatorBin, bootstrap, lambdaTimeout)
	second := testutil.StartEmulator(t, emulatorBin, bootstrap, lambdaTimeout)

	firstDone := make(chan string, 1)
	go func() { firstDone <- invoke(first.URL, event) }()
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := b.KV.Get(context.Background(), bus.SlotKey(run, 0))
		return err == nil
	}, "the first invocation holds slot 0")

	before := target.Total()
	reply := invoke(second.URL, event)
	var res lambdaResult
	if err := json.Unmarshal([]byte(reply), &res); err != nil {
		t.Fatalf("second invocation returned %q: %v", reply, err)
	}
	if res.Outcome != "no_free_slot" {
		t.Errorf("second invocation outcome = %q, want no_free_slot (reply %s)", res.Outcome, reply)
	}
	if _, err := b.KV.Get(context.Background(), bus.SlotKey(run, 0)); err != nil {
		t.Errorf("slot 0 was released while the first invocation runs: %v", err)
	}
	if after := target.Total(); after != before {
		t.Errorf("target count changed from %d to %d during the second invocation", before, after)
	}
	secondLog := second.Process.Stdout() + second.Process.Stderr()
	if strings.Contains(secondLog, "joining run") {
		t.Errorf("the second invocation joined the run:\n%s", secondLog)
	}

	var firstReply string
	select {
	case firstReply = <-firstDone:
	case <-time.After(lambdaTimeout + 5*time.Second):
		t.Fatal("the first invocation did not return")
	}
	if !strings.Contains(firstReply, `"outcome":"handed_over"`) {
		t.Errorf("first invocation returned %s, want outcome handed_over", firstReply)
	}
	if got := target.Total(); got != 0 {
		t.Errorf("target received %d requests from a run that never started", got)
	}
	for name, p := range map[string]*testutil.Process{"first": first.Process, "second": second.Process} {
		if strings.Contains(p.Stdout()+p.Stderr(), natsSecret) {
			t.Errorf("the %s function's output contains the NATS password", name)
		}
	}
	coordinator.Signal(syscall.SIGINT)
}

// invoke sends event to the emulator at url synchronously and returns the
// function's result, or the error as text.
func invoke(url, event string) string {
	resp, err := http.Post(url+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(event))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestLaunchFlagsRejected(t *testing.T) {
	coordinatorBin, _ := binaries(t)
	small := testutil.WritePlan(t, "target: http://127.0.0.1:1\nusers: 10\nduration: 1s\ntasks:\n  - {name: home, url: /}\n")
	large := testutil.WritePlan(t, "target: http://127.0.0.1:1\nusers: 2000\nduration: 1s\ntasks:\n  - {name: home, url: /}\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown platform", []string{small, "--launch", "k8s"}, "invalid --launch"},
		{"lambda without function", []string{small, "--launch", "lambda"}, "--lambda-function"},
		{"no workers", []string{small, "--launch", "lambda", "--lambda-function", "f", "--workers", "0"}, "invalid --workers 0"},
		{"too many open files", []string{large, "--launch", "lambda", "--lambda-function", "f", "--workers", "1"}, "raise --workers"},
		{"nomad without job", []string{small, "--launch", "nomad", "--nomad-addr", "http://127.0.0.1:1"}, "--nomad-job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"start"}, tt.args...)
			args = append(args, "--listen", "127.0.0.1:0")
			p := testutil.StartProcessWithEnv(t, awsTestEnv, coordinatorBin, args...)
			if code := waitExit(t, p, exitTimeout); code != 2 {
				t.Errorf("exit code = %d, want 2\n%s", code, p.Stderr())
			}
			if !strings.Contains(p.Stderr(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, p.Stderr())
			}
		})
	}
}
