// Package engine generates the load of one share: virtual users started at
// the spawn rate, each picking weighted tasks and sending their requests,
// limited by the share's requests per second and iterations.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// ErrNoUsers is returned by Run for a share with no users.
var ErrNoUsers = errors.New("share has no users")

// Engine runs one share of a plan. Run starts it once; Collect and Users
// may be called from other goroutines while it runs.
type Engine struct {
	plan     *plan.Plan
	share    plan.Share
	duration time.Duration
	tasks    []*task
	chooser  chooser
	pacer    *pacer
	shards   []shard

	limited   bool         // iterations are limited
	remaining atomic.Int64 // iterations left to start when limited
	users     atomic.Int64 // users running now
}

// Options adjusts how a share runs. The zero value runs it as the plan says.
type Options struct {
	// Duration overrides the plan's duration, for a share that joins a run
	// already in progress. Zero means the plan's duration.
	Duration time.Duration
}

// New prepares a share of p. It returns an error when a task's request
// cannot be built.
func New(p *plan.Plan, s plan.Share, opts Options) (*Engine, error) {
	e := &Engine{plan: p, share: s, duration: p.Duration}
	if opts.Duration > 0 {
		e.duration = opts.Duration
	}
	clients := make(map[string]*client)
	for i, t := range p.Tasks {
		prepared, err := newTask(i, t, clients, s.Users)
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", t.Name, err)
		}
		e.tasks = append(e.tasks, prepared)
	}
	e.chooser = newChooser(p.Tasks)
	if s.MaxRPS > 0 {
		e.pacer = newPacer(s.MaxRPS)
	}
	if s.Iterations > 0 || p.Iterations > 0 {
		e.limited = true
		e.remaining.Store(s.Iterations)
	}

	e.shards = make([]shard, min(64, 4*runtime.GOMAXPROCS(0)))
	for i := range e.shards {
		e.shards[i].tasks = make([]stats.Task, len(p.Tasks))
		for j, t := range p.Tasks {
			e.shards[i].tasks[j].Name = t.Name
		}
	}
	return e, nil
}

// Run starts users at the share's spawn rate and blocks until the duration
// has passed, the share's iterations have all run, or ctx is done. Requests
// in flight at that moment finish within the plan's request timeout and are
// counted.
func (e *Engine) Run(ctx context.Context) error {
	if e.share.Users <= 0 {
		return ErrNoUsers
	}
	if e.limited && e.remaining.Load() <= 0 {
		return nil
	}
	if e.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.duration)
		defer cancel()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if e.pacer != nil {
		e.pacer.start()
	}

	var wg sync.WaitGroup
	e.spawn(ctx, stop, &wg)
	wg.Wait()
	return nil
}

// spawn starts the share's users one interval apart, the first at once,
// until all run or ctx is done.
func (e *Engine) spawn(ctx context.Context, stop context.CancelFunc, wg *sync.WaitGroup) {
	interval := time.Duration(float64(time.Second) / e.share.SpawnRate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range e.share.Users {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wg.Add(1)
		e.users.Add(1)
		go func() {
			defer wg.Done()
			defer e.users.Add(-1)
			e.newUser(i).loop(ctx, stop)
		}()
		timer.Reset(interval)
	}
}

// Users returns how many users are running now.
func (e *Engine) Users() int { return int(e.users.Load()) }

// Collect returns the statistics gathered since the previous call, one
// entry per task that sent at least one request, and starts a new interval.
func (e *Engine) Collect() []stats.Task {
	sums := make([]stats.Task, len(e.tasks))
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for j := range sh.tasks {
			if sh.tasks[j].Requests > 0 {
				sums[j].Merge(&sh.tasks[j])
				sh.tasks[j].Reset()
			}
		}
		sh.mu.Unlock()
	}
	out := sums[:0]
	for j := range sums {
		if sums[j].Requests > 0 {
			sums[j].Name = e.tasks[j].name
			out = append(out, sums[j])
		}
	}
	return out
}

// shard is one lock's worth of statistics; users spread over the shards so
// that recording rarely waits.
type shard struct {
	mu    sync.Mutex
	tasks []stats.Task
	_     [40]byte // keeps neighbouring locks on separate cache lines
}

func (e *Engine) newUser(id int) *user {
	seed := uint64(time.Now().UnixNano()) ^ uint64(id)*0x9e3779b97f4a7c15
	return &user{
		engine: e,
		shard:  &e.shards[id%len(e.shards)],
		rng:    rand.New(rand.NewPCG(seed, uint64(e.share.Index))),
		last:   -1,
	}
}
