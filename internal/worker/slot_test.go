package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
	"github.com/barrage-load/barrage/internal/worker"
)

// connect returns a bus on the server at url, closed when the test ends.
func connect(t *testing.T, url string) *bus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, url, "worker-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// announce writes a run record as the coordinator does, in state.
func announce(t *testing.T, b *bus.Bus, id string, p *plan.Plan, state bus.RunState) {
	t.Helper()
	record := fmt.Sprintf(`{"id":%q,"state":%q,"coordinator":%q,"report_interval":500000000,"lease":2000000000,"plan":%s}`,
		id, state, id, mustPlanJSON(t, p))
	if _, err := b.Acquire(context.Background(), bus.RunKey(id), []byte(record), time.Minute); err != nil {
		t.Fatalf("announce run: %v", err)
	}
}

func parsePlan(t *testing.T, yaml string) *plan.Plan {
	t.Helper()
	p, err := plan.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	return p
}

func TestLaunchedWorkerFindsNoFreeSlot(t *testing.T) {
	srv := testutil.StartNATS(t)
	b := connect(t, srv.URL())
	target := testutil.NewTarget(t, nil)
	p := parsePlan(t, fmt.Sprintf("target: %s\nusers: 2\nduration: 1m\ntasks:\n  - {name: home, url: /}\n", target.URL))
	announce(t, b, "full", p, bus.RunRunning)

	// Both places of the fleet are held, as by two running workers.
	for n := range 2 {
		if _, err := b.Acquire(context.Background(), bus.SlotKey("full", n), []byte("other"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	w, err := worker.New(b, worker.Config{ID: "late", Run: "full", Slots: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = w.Run(ctx)
	if !errors.Is(err, worker.ErrNoFreeSlot) {
		t.Fatalf("Run = %v, want ErrNoFreeSlot", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Run waited until its context ended instead of returning at once")
	}
	if got := target.Total(); got != 0 {
		t.Errorf("target received %d requests, want 0", got)
	}
	if _, err := b.KV.Get(context.Background(), bus.WorkerKey("full", "late")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the worker's presence exists (err %v); it must not join", err)
	}
}

func TestLaunchedWorkerRunOver(t *testing.T) {
	srv := testutil.StartNATS(t)
	b := connect(t, srv.URL())
	p := parsePlan(t, "target: http://127.0.0.1:1\nusers: 1\nduration: 1m\ntasks:\n  - {name: home, url: /}\n")
	announce(t, b, "ended", p, bus.RunDone)

	tests := []struct {
		name string
		run  string
	}{
		{name: "run done", run: "ended"},
		{name: "run never announced", run: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := worker.New(b, worker.Config{Run: tt.run, Slots: 1})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w.Run(ctx); !errors.Is(err, worker.ErrRunOver) {
				t.Errorf("Run = %v, want ErrRunOver", err)
			}
		})
	}
}

func TestLaunchedWorkerNeedsRun(t *testing.T) {
	if _, err := worker.New(nil, worker.Config{Slots: 3}); err == nil {
		t.Error("New accepted slots without a run id")
	}
	if _, err := worker.New(nil, worker.Config{Run: "r", Slots: worker.MaxSlots + 1}); err == nil {
		t.Error("New accepted more slots than MaxSlots")
	}
}

func TestWorkerHandsShareBackBeforeDeadline(t *testing.T) {
	srv := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	p := parsePlan(t, fmt.Sprintf(`target: %s
users: 2
duration: 1m
max_rps: 100
graceful_stop: 200ms
tasks:
  - {name: home, url: /}
`, target.URL))

	departures := make(chan coordinator.Departure, 4)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	summaries := make(chan *coordinator.Summary, 1)
	go func() {
		s, err := coordinator.Run(ctx, connect(t, srv.URL()), coordinator.Config{
			Plan:           p,
			RunID:          "handover",
			ReportInterval: 200 * time.Millisecond,
			Lease:          2 * time.Second,
			Logger:         testLogger(t),
			OnDeparture:    func(d coordinator.Departure) { departures <- d },
		})
		if err != nil {
			t.Errorf("coordinator: %v", err)
		}
		summaries <- s
	}()

	wb := connect(t, srv.URL())
	testutil.Eventually(t, 5*time.Second, func() bool {
		_, err := wb.KV.Get(context.Background(), bus.RunKey("handover"))
		return err == nil
	}, "the run is announced")
	deadline := time.Now().Add(2500 * time.Millisecond)
	w, err := worker.New(wb, worker.Config{
		ID: "lambda-1", Run: "handover", Slots: 1, Logger: testLogger(t),
		Deadline: deadline, HandoverMargin: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(context.Background())
	if !errors.Is(err, worker.ErrHandedOver) {
		t.Fatalf("Run = %v, want ErrHandedOver", err)
	}
	if time.Now().After(deadline) {
		t.Errorf("Run returned after its deadline")
	}

	select {
	case d := <-departures:
		if d.Worker != "lambda-1" || !d.Clean || d.Share < 0 {
			t.Errorf("departure = %+v, want a clean one of lambda-1 with a share", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the coordinator reported no departure")
	}

	stop()
	s := <-summaries
	if s == nil {
		t.Fatal("no summary")
	}
	if got := target.Total(); got == 0 || got != int64(s.Requests) {
		t.Errorf("target received %d requests, summary counts %d", got, s.Requests)
	}
	if s.Lost != 0 {
		t.Errorf("summary workers_lost = %d, want 0: the worker sent its final report", s.Lost)
	}
}

// mustPlanJSON returns p as JSON, as the run record carries it.
func mustPlanJSON(t *testing.T, p *plan.Plan) string {
	t.Helper()
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testLogger returns a logger whose output is logged if the test fails.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	logs := &testutil.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
