package bus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// dialURL connects to url with cfg's other settings and closes the
// connection when the test ends.
func dialURL(t *testing.T, url string, replicas int) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bus.Dial(ctx, bus.Config{URL: url, Name: t.Name(), Replicas: replicas})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(b.Close)
	return b
}

// A replicated bucket may report a failed compare-and-set with another
// error code than a single server; leases must still tell it apart.
func TestLeasesOnReplicatedBucket(t *testing.T) {
	servers := testutil.StartNATSCluster(t, 3)
	b := dialURL(t, testutil.ClusterURL(servers), 0)
	if b.Replicas != 3 {
		t.Fatalf("replicas = %d, want 3 chosen for a cluster of three", b.Replicas)
	}
	for _, name := range []string{"KV_" + bus.Bucket, bus.ReportStream} {
		stream, err := b.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if got := stream.CachedInfo().Config.Replicas; got != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, got)
		}
	}
	ctx := context.Background()

	lease, err := b.Acquire(ctx, "claims.r3.0", []byte("a"), 10*time.Second)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if _, err := b.Acquire(ctx, "claims.r3.0", []byte("b"), 10*time.Second); !errors.Is(err, bus.ErrTaken) {
		t.Fatalf("second acquire: got %v, want ErrTaken", err)
	}

	const contenders = 10
	wins := make(chan error, contenders)
	for i := range contenders {
		go func() {
			_, err := b.Acquire(ctx, "claims.r3.1", []byte{byte(i)}, 10*time.Second)
			wins <- err
		}()
	}
	won := 0
	for range contenders {
		err := <-wins
		switch {
		case err == nil:
			won++
		case !errors.Is(err, bus.ErrTaken):
			t.Errorf("contender: got %v, want nil or ErrTaken", err)
		}
	}
	if won != 1 {
		t.Errorf("%d contenders acquired claims.r3.1, want 1", won)
	}

	if _, err := b.KV.Put(ctx, "claims.r3.0", []byte("someone else")); err != nil {
		t.Fatal(err)
	}
	if err := lease.Renew(ctx); !errors.Is(err, bus.ErrLeaseLost) {
		t.Fatalf("renew after takeover: got %v, want ErrLeaseLost", err)
	}
}

// Dial with a replica count changes the bucket and the stream that an
// earlier client created with another.
func TestDialScalesReplicas(t *testing.T) {
	servers := testutil.StartNATSCluster(t, 3)
	url := testutil.ClusterURL(servers)
	if b := dialURL(t, url, 1); b.Replicas != 1 {
		t.Fatalf("first dial: replicas = %d, want 1", b.Replicas)
	}
	b := dialURL(t, url, 3)
	if b.Replicas != 3 {
		t.Fatalf("second dial: replicas = %d, want 3", b.Replicas)
	}
	stream, err := b.JS.Stream(context.Background(), bus.ReportStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := stream.CachedInfo().Config.Replicas; got != 3 {
		t.Errorf("report stream has %d replicas, want 3", got)
	}
}

// A watcher and a report follower keep delivering after the server was
// killed and started again, without repeating what they delivered.
func TestWatchAndReportsSurviveServerRestart(t *testing.T) {
	server := testutil.StartNATSServer(t)
	b := dialURL(t, server.URL(), 0)
	ctx := context.Background()

	watcher, err := b.Watch(ctx, "workers.r9.*")
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()
	reports := make(chan string, 100)
	follower, err := b.Reports(ctx, "r9", func(data []byte) { reports <- string(data) })
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Stop()

	expectEntry(t, watcher, "") // no keys yet
	put(t, b, "workers.r9.w1", "before")
	expectEntry(t, watcher, "workers.r9.w1=before")
	publishReport(t, b, "r9", "w1", "report 1")
	expectReport(t, reports, "report 1")

	server.Kill()
	server.Restart()

	put(t, b, "workers.r9.w2", "after")
	expectEntry(t, watcher, "workers.r9.w2=after")
	publishReport(t, b, "r9", "w1", "report 2")
	expectReport(t, reports, "report 2")
	select {
	case data := <-reports:
		t.Errorf("report %q delivered again", data)
	case entry := <-watcher.Updates():
		t.Errorf("entry %v delivered again", entry)
	case <-time.After(500 * time.Millisecond):
	}
}

// put writes key, retrying while the client reconnects.
func put(t *testing.T, b *bus.Bus, key, value string) {
	t.Helper()
	var err error
	testutil.Eventually(t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = b.KV.Put(ctx, key, []byte(value))
		return err == nil
	}, "put %s succeeds (last error: %v)", key, lastError{&err})
}

func publishReport(t *testing.T, b *bus.Bus, run, worker, data string) {
	t.Helper()
	var err error
	testutil.Eventually(t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = b.JS.Publish(ctx, bus.ReportSubject(run, worker), []byte(data),
			jetstream.WithMsgID(run+"."+worker+"."+data))
		return err == nil
	}, "publish %q succeeds (last error: %v)", data, lastError{&err})
}

// expectEntry waits for the next entry of w and checks it: "" means the
// nil that ends the initial entries, otherwise "key=value".
func expectEntry(t *testing.T, w jetstream.KeyWatcher, want string) {
	t.Helper()
	select {
	case e := <-w.Updates():
		got := ""
		if e != nil {
			got = fmt.Sprintf("%s=%s", e.Key(), e.Value())
		}
		if got != want {
			t.Fatalf("entry %q, want %q", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no entry within 20s, want %q", want)
	}
}

func expectReport(t *testing.T, reports <-chan string, want string) {
	t.Helper()
	select {
	case got := <-reports:
		if got != want {
			t.Fatalf("report %q, want %q", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no report within 20s, want %q", want)
	}
}

// lastError formats the error it points to when the message of a failed
// Eventually is built, after the last attempt.
type lastError struct{ err *error }

func (e lastError) String() string { return fmt.Sprint(*e.err) }
