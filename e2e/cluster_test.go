package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/testutil"
)

// Coordinator and workers run unchanged against a three-node cluster, with
// the bucket and the report stream replicated three times. A run survives
// the death of the node that leads the bucket, and every request the
// target received is in the summary.
func TestClusterNodeKilledMidRun(t *testing.T) {
	coordinator, worker := binaries(t)
	servers := testutil.StartNATSCluster(t, 3)
	url := testutil.ClusterURL(servers)
	target := testutil.NewTarget(t, nil)
	const run = "cluster"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: cluster
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

	// No --replicas and no --lease: the coordinator replicates the bucket
	// three times and picks a lease longer than a leader election.
	coord := testutil.StartProcess(t, coordinator, "start", plan, "--nats", url, "--local-workers", "0",
		"--run", run, "--out", out, "--report-interval", reportInterval)
	workers := startWorkers(t, worker, url, run, 2)

	testutil.Eventually(t, exitTimeout, func() bool { return target.Total() >= 600 || coord.Exited() },
		"the target receives 600 requests")
	if coord.Exited() {
		t.Fatalf("coordinator exited before the target received 600 requests")
	}
	leader := bucketLeader(t, url)
	var killed *testutil.NATSServer
	for _, s := range servers {
		if s.Name == leader {
			killed = s
		}
	}
	if killed == nil {
		t.Fatalf("no server is called %q, the bucket's leader", leader)
	}
	killedAt := target.Total()
	killed.Kill()

	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)
	t.Logf("killed %s, the bucket's leader, after %d requests; the target received %d in all", leader, killedAt, target.Total())

	s := readSummary(t, out)
	if got := target.Total(); s.Requests != uint64(got) {
		t.Errorf("summary requests = %d, target received %d; want them equal", s.Requests, got)
	}
	if !s.Complete || s.Workers != 2 || s.Lost != 0 {
		t.Errorf("summary: complete %v (%s), %d workers, %d lost; want complete with 2 and none lost",
			s.Complete, s.Problem, s.Workers, s.Lost)
	}
	// The load went on after the kill: more than half the run came after it.
	if after := target.Total() - killedAt; after < killedAt/2 {
		t.Errorf("only %d requests after the kill, %d before; the load stopped", after, killedAt)
	}
	for _, want := range []string{"replicas=3", "lease=15s"} {
		if !strings.Contains(coord.Stderr(), want) {
			t.Errorf("coordinator log lacks %q:\n%s", want, coord.Stderr())
		}
	}
}

// bucketLeader returns the name of the server that leads the bucket's
// stream.
func bucketLeader(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, url, "test-leader")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stream, err := b.JS.Stream(ctx, "KV_"+bus.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	info := stream.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("stream KV_%s has no leader: %+v", bus.Bucket, info.Cluster)
	}
	if info.Config.Replicas != 3 {
		t.Errorf("stream KV_%s has %d replicas, want 3", bus.Bucket, info.Config.Replicas)
	}
	return info.Cluster.Leader
}
