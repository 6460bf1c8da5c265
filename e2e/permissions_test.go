package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

// Passwords of the users of deploy/nats/barrage.conf in the test.
const (
	coordinatorPassword = "coordinator-pw-3b9e"
	workerPassword      = "worker-pw-51c7"
	observerPassword    = "observer-pw-0d2a"
)

// startDeployNATS starts an in-process server with the configuration in
// deploy/nats/barrage.conf, on a free loopback port with its store in a
// temporary directory, and returns its URL.
func startDeployNATS(t *testing.T) string {
	t.Helper()
	t.Setenv("BARRAGE_COORDINATOR_PASSWORD", coordinatorPassword)
	t.Setenv("BARRAGE_WORKER_PASSWORD", workerPassword)
	t.Setenv("BARRAGE_OBSERVER_PASSWORD", observerPassword)
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(filepath.Join(root, "deploy", "nats", "barrage.conf"))
	if err != nil {
		t.Fatalf("load deploy/nats/barrage.conf: %v", err)
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", server.RANDOM_PORT, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	return ns.ClientURL()
}

// violations collects the permission violations that a server reports to
// a connection.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.errs = append(v.errs, err.Error())
		}
	})
}

// has reports whether a violation mentions subject.
func (v *violations) has(subject string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		if strings.Contains(e, `"`+subject+`"`) {
			return true
		}
	}
	return false
}

// The example server configuration lets a worker run a real run, but not
// announce a plan or stop a run, and lets an observer read live
// statistics and nothing else.
func TestDeployConfigPermissions(t *testing.T) {
	coordinator, worker := binaries(t)
	url := startDeployNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "perms"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: perms
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

	// An observer receives live statistics and may neither publish nor read
	// anything else.
	var observed violations
	observer, err := nats.Connect(url, nats.UserInfo("observer", observerPassword), observed.handler())
	if err != nil {
		t.Fatalf("connect as observer: %v", err)
	}
	t.Cleanup(observer.Close)
	stats, err := observer.SubscribeSync("stats.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := observer.SubscribeSync("barrage.report.>"); err != nil {
		t.Fatal(err)
	}
	observer.Publish("stats."+run+".summary", []byte(`{"requests":1}`))
	observer.Flush()

	// A worker that starts before the coordinator waits until the
	// coordinator has created the bucket, which the worker may not do.
	workers := []*testutil.Process{startPermittedWorker(t, worker, url, run+"-w0")}
	coord := testutil.StartProcess(t, coordinator, "start", plan, "--nats", url,
		"--user", "coordinator", "--password", coordinatorPassword, "--local-workers", "0",
		"--run", run, "--out", out, "--report-interval", reportInterval, "--lease", lease)
	admin := dialAs(t, url, bus.Credentials{User: "coordinator", Password: coordinatorPassword})
	testutil.Eventually(t, exitTimeout, func() bool {
		_, err := admin.KV.Get(context.Background(), bus.RunKey(run))
		return err == nil || coord.Exited()
	}, "the coordinator announces run %s", run)

	// With the worker's permissions, the run record cannot be written,
	// replaced or deleted, and no share can be assigned.
	var denied violations
	attacker := dialAs(t, url, bus.Credentials{User: "worker", Password: workerPassword}, denied.handler())
	forged, _ := json.Marshal(bus.Run{ID: run, State: bus.RunStopping})
	attempts := map[string]func(context.Context) error{
		bus.RunKey("forged"): func(ctx context.Context) error {
			_, err := attacker.KV.Create(ctx, bus.RunKey("forged"), forged)
			return err
		},
		bus.RunKey(run): func(ctx context.Context) error {
			_, err := attacker.KV.Put(ctx, bus.RunKey(run), forged)
			if err == nil {
				err = attacker.KV.Delete(ctx, bus.RunKey(run))
			}
			return err
		},
		bus.ShareKey(run, "w9"): func(ctx context.Context) error {
			_, err := attacker.KV.Put(ctx, bus.ShareKey(run, "w9"), []byte(`{}`))
			return err
		},
	}
	for key, attempt := range attempts {
		// A denied publish gets no reply, so the attempt times out.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := attempt(ctx)
		cancel()
		if err == nil {
			t.Errorf("worker user wrote %s", key)
		}
		subject := "$KV." + bus.Bucket + "." + key
		testutil.Eventually(t, 5*time.Second, func() bool { return denied.has(subject) },
			"the server reports a permission violation for %s", subject)
	}
	if _, err := admin.KV.Get(context.Background(), bus.RunKey("forged")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("get %s: got %v, want it not found", bus.RunKey("forged"), err)
	}
	entry, err := admin.KV.Get(context.Background(), bus.RunKey(run))
	if err != nil {
		t.Fatalf("get the run record: %v", err)
	}
	var record bus.Run
	if err := json.Unmarshal(entry.Value(), &record); err != nil || record.State != bus.RunWaiting || record.Plan == nil {
		t.Errorf("run record = %s (%v), want the coordinator's, waiting", entry.Value(), err)
	}

	// Workers with these permissions run the plan to its exact end.
	workers = append(workers, startPermittedWorker(t, worker, url, run+"-w1"))
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)
	if got := target.Total(); got != 300 {
		t.Errorf("target received %d requests, want 300", got)
	}
	if s := readSummary(t, out); s.Requests != 300 || !s.Complete {
		t.Errorf("summary: %d requests, complete %v (%s); want 300 and complete", s.Requests, s.Complete, s.Problem)
	}
	for i, w := range workers {
		if strings.Contains(w.Stderr(), "nats error") {
			t.Errorf("worker %d was denied something it needs:\n%s", i, w.Stderr())
		}
	}

	msg, err := stats.NextMsg(time.Second)
	if err != nil {
		t.Fatalf("observer received no live statistics: %v", err)
	}
	if !strings.HasPrefix(msg.Subject, "stats."+run+".") || strings.Contains(string(msg.Data), `{"requests":1}`) {
		t.Errorf("observer received %s %s, want the coordinator's statistics", msg.Subject, msg.Data)
	}
	for _, subject := range []string{"stats." + run + ".summary", "barrage.report.>"} {
		if !observed.has(subject) {
			t.Errorf("no permission violation reported to the observer for %s", subject)
		}
	}
}

// startPermittedWorker starts a worker as the worker user of
// deploy/nats/barrage.conf.
func startPermittedWorker(t *testing.T, worker, url, id string) *testutil.Process {
	t.Helper()
	return testutil.StartProcessWithEnv(t, []string{"NATS_USER=worker", "NATS_PASSWORD=" + workerPassword},
		worker, "--nats", url, "--run", strings.SplitN(id, "-", 2)[0], "--id", id, "--connect-timeout", "30s")
}
