package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
)

// A task that hits 100,000 distinct URLs keeps one statistics row, and the
// coordinator, run in this process, does not grow with the URLs. The
// worker is a separate process so that its memory does not count.
func TestDistinctURLsKeepCoordinatorFlat(t *testing.T) {
	_, worker := binaries(t)
	server := testutil.StartNATS(t)
	// The target counts without keeping paths, so that only the
	// coordinator and the NATS server could grow in this process.
	var received atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
	}))
	defer target.Close()
	const run = "distinct-urls"
	p, err := plan.Parse(fmt.Appendf(nil, `name: distinct-urls
target: %s
users: 20
spawn_rate: 1000
iterations: 100000
duration: 2m
tasks:
  - name: item
    url: /item/${seq}
`, target.URL))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := bus.Connect(ctx, server.URL(), "test-coordinator")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer b.Close()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	workers := startWorkers(t, worker, server.URL(), run, 1)
	s, err := coordinator.Run(ctx, b, coordinator.Config{
		Plan: p, RunID: run, ReportInterval: reportIntervalDuration, Lease: leaseDuration,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkWorkersExited(t, workers)

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	if s.Requests != 100000 {
		t.Errorf("summary requests = %d, want 100000", s.Requests)
	}
	if total := received.Load(); total != 100000 {
		t.Errorf("target received %d requests, want 100000", total)
	}
	if len(s.Tasks) != 1 || s.Tasks[0].Name != "item" || s.Tasks[0].Requests != 100000 {
		t.Errorf("tasks = %+v, want one row for item with 100000 requests", s.Tasks)
	}
	// 100,000 URLs kept by the coordinator would take several megabytes.
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("coordinator heap in use: %d KiB before, %d KiB after", before.HeapInuse>>10, after.HeapInuse>>10)
	if growth > 4<<20 {
		t.Errorf("heap in use grew by %d KiB over the run, want under 4 MiB", growth>>10)
	}
}
