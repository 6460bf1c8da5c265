package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

// A worker without credentials for a server that requires them gives up
// at once with advice. With them, coordinator and workers run the plan,
// and the password appears in no log, summary, live statistic or run
// record.
func TestRunWithNATSPassword(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	const user, password = "barrage", "Pw-7f3a91c2e4b6d8a0"
	server, err := bus.StartServer(bus.ServerConfig{
		Listen: "127.0.0.1:0", StoreDir: t.TempDir(), User: user, Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Shutdown)
	url := server.URL()
	urlWithPassword := strings.Replace(url, "nats://", "nats://"+user+":"+password+"@", 1)
	target := testutil.NewTarget(t, nil)
	const run = "auth-password"

	began := time.Now()
	bare := testutil.StartProcess(t, worker, "--nats", url, "--run", run, "--connect-timeout", "30s")
	if code := waitExit(t, bare, exitTimeout); code != 1 {
		t.Errorf("worker without credentials: exit code %d, want 1", code)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("worker without credentials exited after %s, want at once rather than after --connect-timeout", took.Round(time.Millisecond))
	}
	for _, want := range []string{"requires credentials", "--user", "NATS_PASSWORD"} {
		if !strings.Contains(bare.Stderr(), want) {
			t.Errorf("worker without credentials does not mention %q:\n%s", want, bare.Stderr())
		}
	}

	plan := testutil.WritePlan(t, fmt.Sprintf(`name: auth
target: %s
users: 4
spawn_rate: 100
duration: 1m
iterations: 300
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	stats := recordSubject(t, urlWithPassword, "stats.>")
	records := recordSubject(t, urlWithPassword, "$KV."+bus.Bucket+"."+bus.RunKey(run))

	// The coordinator reads the password from the environment, one worker
	// from its flags and one from the URL.
	coord := testutil.StartProcessWithEnv(t, []string{"NATS_USER=" + user, "NATS_PASSWORD=" + password},
		coordinator, "start", plan, "--nats", url, "--local-workers", "0", "--run", run, "--out", out,
		"--report-interval", reportInterval, "--lease", lease, "--log-level", "debug")
	workers := []*testutil.Process{
		testutil.StartProcess(t, worker, "--nats", url, "--user", user, "--password", password,
			"--run", run, "--id", run+"-w0", "--log-level", "debug"),
		testutil.StartProcess(t, worker, "--nats", urlWithPassword,
			"--run", run, "--id", run+"-w1", "--log-level", "debug"),
	}
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	if got := target.Total(); got != 300 {
		t.Errorf("target received %d requests, want 300", got)
	}
	s := readSummary(t, out)
	if s.Requests != 300 || !s.Complete {
		t.Errorf("summary: %d requests, complete %v (%s); want 300 and complete", s.Requests, s.Complete, s.Problem)
	}
	if !strings.Contains(workers[1].Stderr(), "nats://"+user+":xxxxx@127.0.0.1") {
		t.Errorf("worker log does not show the URL with its password redacted:\n%s", workers[1].Stderr())
	}

	summaryJSON, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{
		"coordinator output": coord.Stdout() + coord.Stderr(),
		"worker 0 output":    workers[0].Stdout() + workers[0].Stderr(),
		"worker 1 output":    workers[1].Stdout() + workers[1].Stderr(),
		"summary":            string(summaryJSON),
		"stats.>":            messagesText(stats.all()),
		"run record":         messagesText(records.all()),
	}
	if stats.len() == 0 || records.len() == 0 {
		t.Fatalf("recorded %d live statistics and %d run records, want some of each", stats.len(), records.len())
	}
	for name, text := range texts {
		if strings.Contains(text, password) {
			t.Errorf("%s contains the NATS password:\n%s", name, text)
		}
	}
}

// An embedded server that listens beyond loopback requires a password:
// the coordinator generates one, writes it to a file that only its owner
// can read, gives it to its local worker, and never logs it.
func TestEmbeddedServerBeyondLoopbackRequiresPassword(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	target := testutil.NewTarget(t, nil)
	const run = "auth-embedded"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: embedded
target: %s
users: 2
spawn_rate: 100
duration: 1m
iterations: 200
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	config := t.TempDir()
	credentials := filepath.Join(config, "barrage", "nats-"+run+".env")

	// The server binds every interface, and the test reaches it on
	// loopback only.
	coord := testutil.StartProcessWithEnv(t, []string{"XDG_CONFIG_HOME=" + config},
		coordinator, "start", plan, "--listen", "0.0.0.0:0", "--run", run, "--out", out,
		"--report-interval", reportInterval, "--lease", lease)
	var port string
	portPattern := regexp.MustCompile(`embedded nats server started" url=nats://0\.0\.0\.0:(\d+)`)
	testutil.Eventually(t, exitTimeout, func() bool {
		if m := portPattern.FindStringSubmatch(coord.Stderr()); m != nil {
			port = m[1]
		}
		return port != "" || coord.Exited()
	}, "the coordinator logs the embedded server's address")
	if port == "" {
		t.Fatalf("coordinator exited before its server started:\n%s", coord.Stderr())
	}
	url := "nats://127.0.0.1:" + port

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("connected to the embedded server without credentials")
	}
	info, err := os.Stat(credentials)
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("credentials file mode = %o, want 600", mode)
	}
	env := readEnvFile(t, credentials)
	password := env["NATS_PASSWORD"]
	if env["NATS_USER"] != bus.GeneratedUser || len(password) < 20 {
		t.Fatalf("credentials file holds user %q and a password of %d characters, want %q and at least 20",
			env["NATS_USER"], len(password), bus.GeneratedUser)
	}

	// A second worker joins with the password from the file, as
	// `set -a; . FILE` would pass it.
	remote := testutil.StartProcessWithEnv(t, []string{"NATS_USER=" + env["NATS_USER"], "NATS_PASSWORD=" + password},
		worker, "--nats", url, "--run", run, "--id", run+"-remote")
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, []*testutil.Process{remote})
	if got := target.Total(); got != 200 {
		t.Errorf("target received %d requests, want 200", got)
	}
	if s := readSummary(t, out); s.Requests != 200 || s.Workers != 2 {
		t.Errorf("summary: %d requests from %d workers, want 200 from 2", s.Requests, s.Workers)
	}
	if !strings.Contains(coord.Stderr(), credentials) {
		t.Errorf("coordinator log does not say where the credentials are:\n%s", coord.Stderr())
	}
	if strings.Contains(coord.Stdout()+coord.Stderr(), password) {
		t.Errorf("coordinator output contains the generated password:\n%s", coord.Stderr())
	}
	if _, err := os.Stat(credentials); !os.IsNotExist(err) {
		t.Errorf("credentials file still exists after the run: %v", err)
	}
}

// readEnvFile returns the KEY=VALUE lines of a file, without comments.
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := make(map[string]string)
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if key, value, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			env[key] = value
		}
	}
	return env
}

// messagesText joins the subjects and payloads of msgs, one per line.
func messagesText(msgs []recordedMsg) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%s %s\n", m.msg.Subject, m.msg.Data)
	}
	return b.String()
}

// dialAs connects to url with creds, closing the connection when the test
// ends.
func dialAs(t *testing.T, url string, creds bus.Credentials, opts ...nats.Option) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Dial(ctx, bus.Config{URL: url, Name: t.Name(), Credentials: creds, Options: opts})
	if err != nil {
		t.Fatalf("connect as %s: %v", creds, err)
	}
	t.Cleanup(b.Close)
	return b
}

// NATS flags that do not fit together are usage errors, reported before
// anything starts.
func TestNATSFlagErrors(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	plan := testutil.WritePlan(t, `target: http://127.0.0.1:9
users: 1
duration: 1s
tasks:
  - name: home
    url: /
`)
	// Port 9 of loopback is never reached: the flags fail first.
	const unused = "nats://127.0.0.1:9"
	tests := []struct {
		name string
		bin  string
		args []string
		want string
	}{
		{"listen flags need the embedded server", coordinator,
			[]string{"start", plan, "--nats", unused, "--listen-user", "a", "--listen-password", "b"},
			"--listen-user applies to the embedded server"},
		{"a password needs a user", coordinator,
			[]string{"start", plan, "--nats", unused, "--password", "pw"}, "--password needs --user"},
		{"a certificate needs its key", coordinator,
			[]string{"start", plan, "--nats", unused, "--tlscert", "client.pem"}, "--tlscert and --tlskey go together"},
		{"a listen password needs a listen user", coordinator,
			[]string{"start", plan, "--listen", "127.0.0.1:0", "--listen-password", "pw"}, "--listen-password needs --listen-user"},
		{"the embedded server keeps one copy", coordinator,
			[]string{"start", plan, "--listen", "127.0.0.1:0", "--replicas", "3"}, "the embedded server is a single server"},
		{"replicas stay within 5", coordinator,
			[]string{"start", plan, "--nats", unused, "--replicas", "9"}, "invalid --replicas 9"},
		{"a worker's password needs a user", worker,
			[]string{"--nats", unused, "--password", "pw"}, "--password needs --user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testutil.StartProcess(t, tt.bin, tt.args...)
			if code := waitExit(t, p, exitTimeout); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if !strings.Contains(p.Stderr(), tt.want) {
				t.Errorf("stderr does not contain %q:\n%s", tt.want, p.Stderr())
			}
		})
	}
}
