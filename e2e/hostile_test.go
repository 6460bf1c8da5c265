package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
	"github.com/barrage-load/barrage/internal/testutil"
)

// TestHostileMessagesChangeNoTotals sends malformed, oversized and forged
// messages on every subject and key the coordinator reads, during a run.
// The coordinator must keep running, count them and keep totals exact.
func TestHostileMessagesChangeNoTotals(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	const run = "hostile"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: hostile
target: %s
users: 2
duration: 4s
max_rps: 200
tasks:
  - name: home
    url: /
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")
	workers := startWorkers(t, worker, server.URL(), run, 1)
	coord := startCoordinator(t, coordinator, server.URL(), run, plan, out)

	nc, err := nats.Connect(server.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testutil.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(coord.Stderr(), "run started")
	}, "run did not start")

	// A well-formed report from a worker that holds no share, claiming a
	// million requests.
	forged := &bus.Report{Run: run, Worker: "intruder", Seq: 1, Share: 0, Sent: time.Now()}
	task := stats.Task{Name: "home", Requests: 1_000_000}
	for range 1_000_000 {
		task.Latency.Record(time.Millisecond)
	}
	forged.Tasks = []stats.Task{task}
	forgedData, err := bus.EncodeReport(forged)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1<<20)
	rand.Read(big)
	reports := map[string][]byte{
		"garbage":             []byte("not msgpack at all"),
		"random megabyte":     big,
		"nil time":            []byte("\x89\xa30000\xa6000000\xa3000\xa3000\xcf00000000\xa5000000\xa5000000\xa5000000\xa70000000\xd300000000\xa4sent\xc0"),
		"millions of tasks":   {0x81, 0xa5, 't', 'a', 's', 'k', 's', 0xdd, 0x00, 0x2d, 0xc6, 0xc0},
		"forged valid report": forgedData,
	}
	for name, data := range reports {
		if _, err := js.Publish(ctx, bus.ReportSubject(run, "intruder"), data); err != nil {
			t.Fatalf("publish %s: %v", name, err)
		}
	}
	if err := nc.Publish(bus.GrantSubject(run), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, bus.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, bus.WorkerKey(run, "intruder"), []byte("\x00\x01 not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, bus.WorkerKey(run, "impostor"), []byte(`{"id":"someone-else","state":"ready"}`)); err != nil {
		t.Fatal(err)
	}

	if code := waitExit(t, coord, 4*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0\n%s", code, coord.Stderr())
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	if total := target.Total(); s.Requests != uint64(total) || total == 0 {
		t.Errorf("summary requests = %d, target received %d", s.Requests, total)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var extra struct {
		Rejected uint64 `json:"rejected_messages"`
	}
	if err := json.Unmarshal(data, &extra); err != nil {
		t.Fatal(err)
	}
	// Five reports, one request for iterations and two presences.
	if extra.Rejected != 8 {
		t.Errorf("rejected_messages = %d, want 8\n%s", extra.Rejected, coord.Stderr())
	}
}
