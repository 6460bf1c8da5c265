package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
	"github.com/barrage-load/barrage/internal/worker"
)

// TestTwoHundredWorkersJoin runs 200 in-process workers, each with its own
// NATS connection as a process would have, and checks that each claims
// one share of its own.
func TestTwoHundredWorkersJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 200 workers; skipped with -short")
	}
	t.Parallel()
	const workers = 200
	const run = "two-hundred"
	server := testutil.StartNATS(t)
	target := testutil.NewTarget(t, nil)
	// max_rps bounds the load, so that on a small machine 400 users leave
	// CPU time for the 200 workers' lease renewals.
	p, err := plan.Parse(fmt.Appendf(nil, `name: two-hundred
target: %s
users: 400
spawn_rate: 400
duration: 8s
max_rps: 2000
workers:
  min: %d
  join_timeout: 45s
tasks:
  - name: home
    url: /
`, target.URL, workers))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, logger := bufferLogger(t, slog.LevelWarn)

	coordBus := connectBus(ctx, t, server.URL(), "scale-coordinator")
	claims := watchClaims(ctx, t, connectBus(ctx, t, server.URL(), "scale-claims"), run)
	views := recordSubject(t, server.URL(), "stats."+run+".workers")

	type result struct {
		summary *coordinator.Summary
		err     error
	}
	coordDone := make(chan result, 1)
	coordFinished := make(chan struct{})
	go func() {
		defer close(coordFinished)
		s, err := coordinator.Run(ctx, coordBus, coordinator.Config{
			Plan:           p,
			RunID:          run,
			ReportInterval: time.Second,
			Lease:          5 * time.Second,
			Logger:         logger,
		})
		coordDone <- result{s, err}
	}()

	first := time.Now()
	var wg sync.WaitGroup
	workerErrs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("scale-w%03d", i)
			b, err := bus.Connect(ctx, server.URL(), id)
			if err != nil {
				workerErrs <- fmt.Errorf("worker %s: %w", id, err)
				return
			}
			defer b.Close()
			w, err := worker.New(b, worker.Config{ID: id, Run: run, Logger: logger})
			if err != nil {
				workerErrs <- fmt.Errorf("worker %s: %w", id, err)
				return
			}
			if err := w.Run(ctx); err != nil {
				workerErrs <- fmt.Errorf("worker %s: %w", id, err)
			}
		}()
	}
	// The workers and the coordinator outlive a failed check unless they
	// are stopped and awaited before the test's cleanups close the server.
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		<-coordFinished
	})

	running, runningAt := waitAllRunning(t, views, workers, func() bool { return len(coordDone) > 0 })

	var res result
	select {
	case res = <-coordDone:
	case <-ctx.Done():
		t.Fatal("coordinator.Run did not return within 90s")
	}
	if res.err != nil {
		t.Fatalf("coordinator.Run: %v", res.err)
	}
	wg.Wait()
	close(workerErrs)
	for err := range workerErrs {
		t.Error(err)
	}

	s := res.summary
	t.Logf("run started %s after the first worker started", s.Started.Sub(first).Round(time.Millisecond))
	t.Logf("all %d workers running after %s (stats every 1s)", workers, runningAt.Sub(first).Round(time.Millisecond))
	t.Logf("last share claimed %s after the first worker started", claims.lastClaim().Sub(first).Round(time.Millisecond))

	checkOneShareEach(t, running, workers)
	claims.check(t, workers)
	if s.Workers != workers {
		t.Errorf("summary workers = %d, want %d", s.Workers, workers)
	}
	if total := target.Total(); s.Requests != uint64(total) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, total)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q", s.Problem)
	}
}

// waitAllRunning waits until a stats.<run>.workers message shows n workers
// in state running with users, and returns that message's workers and the
// time it arrived. After a minute, or once ended returns true, it fails the
// test with the worker states of the last message.
func waitAllRunning(t *testing.T, views *subjectRecorder, n int, ended func() bool) ([]workerView, time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var checked time.Time
	states := "no message yet"
	for {
		for _, m := range views.since(checked) {
			checked = m.at.Add(time.Nanosecond)
			list := decodeWorkers(t, m.msg)
			running := 0
			counts := make(map[string]int)
			for _, v := range list {
				if v.State == "running" && v.Users > 0 {
					running++
				}
				counts[fmt.Sprintf("%s with %d users", v.State, v.Users)]++
			}
			if running == n {
				return list, m.at
			}
			states = fmt.Sprint(counts)
		}
		if ended() {
			t.Fatalf("the run ended before %d workers ran users; last stats: %s", n, states)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d workers to run users; last stats: %s", n, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkOneShareEach checks that each of n workers holds exactly one share
// and that no two hold the same one.
func checkOneShareEach(t *testing.T, views []workerView, n int) {
	t.Helper()
	if len(views) != n {
		t.Errorf("stats lists %d workers, want %d", len(views), n)
	}
	holders := make(map[int]string)
	for _, v := range views {
		if len(v.Shares) != 1 {
			t.Errorf("worker %s holds shares %v, want exactly one", v.ID, v.Shares)
			continue
		}
		index := v.Shares[0]
		if other, ok := holders[index]; ok {
			t.Errorf("share %d is held by both %s and %s", index, other, v.ID)
		}
		holders[index] = v.ID
	}
	if len(holders) != n {
		t.Errorf("stats shows %d distinct shares, want %d", len(holders), n)
	}
}

// claimLog is the record of one run's claims: the workers that wrote each
// share's claim key, and when the last new claim appeared.
type claimLog struct {
	mu      sync.Mutex
	holders map[int]map[string]bool
	last    time.Time
	errs    []error
}

// watchClaims records the claims.<run>.* keys until ctx is done.
func watchClaims(ctx context.Context, t *testing.T, b *bus.Bus, run string) *claimLog {
	t.Helper()
	watcher, err := b.KV.Watch(ctx, "claims."+run+".*")
	if err != nil {
		t.Fatalf("watch claims: %v", err)
	}
	c := &claimLog{holders: make(map[int]map[string]bool)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for entry := range watcher.Updates() {
			if entry != nil && entry.Operation() == jetstream.KeyValuePut {
				c.add(entry)
			}
		}
	}()
	t.Cleanup(func() {
		watcher.Stop()
		<-done
	})
	return c
}

func (c *claimLog) add(entry jetstream.KeyValueEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := entry.Key()
	index, err := strconv.Atoi(key[strings.LastIndexByte(key, '.')+1:])
	if err != nil {
		c.errs = append(c.errs, fmt.Errorf("claim key %q does not end in a share index", entry.Key()))
		return
	}
	if c.holders[index] == nil {
		c.holders[index] = make(map[string]bool)
	}
	holder := string(entry.Value())
	if !c.holders[index][holder] {
		c.holders[index][holder] = true
		c.last = time.Now()
	}
}

// lastClaim returns when a worker last claimed a share.
func (c *claimLog) lastClaim() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// check checks that n shares were claimed, each by one worker, and that
// no worker claimed two.
func (c *claimLog) check(t *testing.T, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, err := range c.errs {
		t.Error(err)
	}
	if len(c.holders) != n {
		t.Errorf("%d shares were claimed, want %d", len(c.holders), n)
	}
	shares := make(map[string][]int)
	for index, holders := range c.holders {
		if len(holders) != 1 {
			t.Errorf("share %d was claimed by %d workers: %v", index, len(holders), holders)
		}
		for holder := range holders {
			shares[holder] = append(shares[holder], index)
		}
	}
	if len(shares) != n {
		t.Errorf("%d workers claimed shares, want %d", len(shares), n)
	}
	for holder, indexes := range shares {
		if len(indexes) != 1 {
			sort.Ints(indexes)
			t.Errorf("worker %s claimed shares %v, want one", holder, indexes)
		}
	}
}
