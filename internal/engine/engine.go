// Package engine generates the load of one share: virtual users started and
// stopped at the spawn rate, each picking weighted tasks and sending their
// requests, limited by the share's requests per second and iterations. The
// share may change while it runs, when the coordinator rebalances the fleet.
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

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// ErrExpired is returned by Run when the engine stopped because the time
// set with SetValidUntil passed.
var ErrExpired = errors.New("share expired: its lease was not renewed in time")

// Budget hands out iterations to an engine whose fleet shares one count.
type Budget interface {
	// Grant returns how many more iterations the engine may start, n, 0
	// when the fleet's iterations are used up. They are the iterations
	// numbered first to first+n-1 across the fleet, counted from 0, and
	// with data in once mode these numbers select the rows. Grant blocks
	// until the grant arrives or ctx is done, when it returns ctx's error.
	Grant(ctx context.Context) (first, n int64, err error)
}

// Engine runs one share of a plan. Run starts it once; the other methods
// may be called from any goroutine while it runs.
type Engine struct {
	plan     *plan.Plan
	duration time.Duration
	tasks    []*task
	slots    []stats.Task // the task and step name of each statistics slot
	vars     *variableTable
	data     *dataRows // nil without data
	clients  *clientPool
	chooser  chooser
	pacer    pacer
	shards   []shard
	seed     uint64

	mu      sync.Mutex
	share   plan.Share    // guarded by mu
	changed chan struct{} // signals a new share to the controller

	limited   bool         // iterations are limited
	budget    Budget       // source of iterations; nil means share.Iterations only
	remaining atomic.Int64 // iterations granted and not yet started
	refillMu  sync.Mutex   // one user at a time requests a grant
	exhausted atomic.Bool  // the budget has no more iterations
	// iterations records the fleet-wide numbers of the iterations granted,
	// for data in once mode only.
	iterations iterationRanges

	open      bool          // the plan is an open model
	runOffset time.Duration // how far the run was when the share started
	dropped   atomic.Uint64 // open-model arrivals that found every user busy

	seq atomic.Int64 // value of the last ${seq} of a request
	// users counts the users running now, or in an open-model share the
	// users busy with an execution.
	users      atomic.Int64
	origin     time.Time    // monotonic base of validUntil
	validUntil atomic.Int64 // nanoseconds since origin; 0 means no limit
	expired    atomic.Bool

	// requestLimit is the latest end of any request, in nanoseconds since
	// origin, or 0 for no limit beyond the plan's timeout.
	requestLimit atomic.Int64

	// ended is closed when the run's duration passed or Run's ctx is
	// done, but not when the iterations ran out. Run sets it before it
	// starts users.
	ended <-chan struct{}
}

// Options adjusts how a share runs. The zero value runs it as the plan
// sets it.
type Options struct {
	// Duration overrides the plan's duration, for a share that joins a run
	// already in progress. Zero means the plan's duration.
	Duration time.Duration
	// Budget, when set, supplies the iterations of a plan with iterations,
	// and the share's own Iterations are ignored. Without it, a plan with
	// data in once mode uses the rows from the first, so only a single
	// share may run without a Budget.
	Budget Budget
	// Allow, when set, limits the hosts that requests may connect to.
	// A connection to any other host fails, redirects included.
	Allow *allowlist.List
}

// New prepares a share of p. It returns an error when a task's request
// cannot be built.
func New(p *plan.Plan, s plan.Share, opts Options) (*Engine, error) {
	e := &Engine{
		plan:     p,
		share:    s,
		duration: p.Duration,
		changed:  make(chan struct{}, 1),
		origin:   time.Now(),
		seed:     rand.Uint64(),
	}
	if opts.Duration > 0 {
		e.duration = opts.Duration
		e.runOffset = max(p.Duration-opts.Duration, 0)
	}
	e.open = p.Open()
	clients, err := newClientPool(p, opts.Allow)
	if err != nil {
		return nil, err
	}
	e.clients = clients
	e.vars = newVariableTable(p)
	e.data = newDataRows(p, e.vars)
	for i, t := range p.Tasks {
		// Every share of the plan may grow to the plan's users.
		var prepared *task
		if t.Go != "" {
			prepared, err = newGoTask(i, t)
		} else {
			prepared, err = newTask(i, t, clients, e.vars)
		}
		if err != nil {
			return nil, fmt.Errorf("task %q: %w", t.Name, err)
		}
		e.addSlots(prepared)
		e.tasks = append(e.tasks, prepared)
	}
	e.chooser = newChooser(p.Tasks)
	e.pacer.setRate(s.MaxRPS)
	if p.Iterations > 0 {
		e.limited = true
		e.budget = opts.Budget
		if e.budget == nil {
			e.remaining.Store(s.Iterations)
			e.iterations.add(0, s.Iterations)
		}
	}

	e.shards = make([]shard, min(64, 4*runtime.GOMAXPROCS(0)))
	for i := range e.shards {
		e.shards[i].tasks = make([]stats.Task, len(e.slots))
		for j, slot := range e.slots {
			e.shards[i].tasks[j].Name = slot.Name
			e.shards[i].tasks[j].Step = slot.Step
		}
	}
	return e, nil
}

// addSlots gives t its statistics slots: one per step of a task with
// steps, and one for any other task.
func (e *Engine) addSlots(t *task) {
	if t.fn != nil {
		t.slot = len(e.slots)
		e.slots = append(e.slots, stats.Task{Name: t.name})
		return
	}
	for _, s := range t.steps {
		s.slot = len(e.slots)
		e.slots = append(e.slots, stats.Task{Name: t.name, Step: s.name})
	}
}

// Run keeps the share's users running, starting or stopping them at the
// share's spawn rate, and blocks until the duration has passed, the
// iterations are used up, the time set with SetValidUntil passed, or ctx is
// done. Requests in flight at that moment finish within the plan's request
// timeout, cut to the plan's graceful_stop where requestDeadline can, and
// are counted. A share with no users waits for an Update.
func (e *Engine) Run(ctx context.Context) error {
	if e.limited && e.budget == nil && e.remaining.Load() <= 0 {
		return nil
	}
	if e.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.duration)
		defer cancel()
	}
	e.ended = ctx.Done()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer e.watchEnd(ctx)()
	e.pacer.start()

	var wg sync.WaitGroup
	if e.open {
		e.arrive(ctx, stop, &wg)
	} else {
		e.control(ctx, stop, &wg)
	}
	wg.Wait()
	if e.expired.Load() {
		return ErrExpired
	}
	return nil
}

// Update replaces the share: users, spawn rate and requests per second.
// Users are started or stopped at the new spawn rate; the rate limit
// applies at once. Iterations are not changed.
func (e *Engine) Update(s plan.Share) {
	e.mu.Lock()
	e.share = s
	e.mu.Unlock()
	e.pacer.setRate(s.MaxRPS)
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// SetValidUntil makes users stop before their next request once t has
// passed, and Run return ErrExpired. The worker moves t forward each time it
// renews its leases, so a worker cut off from the coordinator, or paused
// for longer than its lease, stops generating load.
func (e *Engine) SetValidUntil(t time.Time) {
	e.validUntil.Store(max(1, int64(t.Sub(e.origin))))
}

// Users returns how many users are running now. In an open-model share
// it is how many users are busy with an execution.
func (e *Engine) Users() int { return int(e.users.Load()) }

// TakeDropped returns how many open-model arrivals were dropped since the
// previous call, because every user of the share was busy, and starts
// counting again from 0.
func (e *Engine) TakeDropped() uint64 { return e.dropped.Swap(0) }

// Share returns the share the engine runs now.
func (e *Engine) Share() plan.Share {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.share
}

// Collect returns the statistics gathered since the previous call, one
// entry per task without steps and per step of a task with steps that
// sent at least one request, and starts a new interval. The entries of
// steps carry the step's name in Step.
func (e *Engine) Collect() []stats.Task {
	sums := make([]stats.Task, len(e.slots))
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
			sums[j].Name, sums[j].Step = e.slots[j].Name, e.slots[j].Step
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
	u := &user{
		engine: e,
		shard:  &e.shards[id%len(e.shards)],
		rng:    rand.New(rand.NewPCG(e.seed, uint64(id))),
		quit:   make(chan struct{}),
		id:     id,
		last:   -1,
	}
	if n := e.vars.size(); n > 0 {
		u.values = make([][]byte, n)
		u.valueSet = make([]bool, n)
	}
	return u
}

// takeIteration reserves one iteration and reports whether there was one.
func (e *Engine) takeIteration(ctx context.Context) bool {
	if !e.limited {
		return true
	}
	for {
		n := e.remaining.Load()
		if n > 0 {
			if e.remaining.CompareAndSwap(n, n-1) {
				return true
			}
			continue
		}
		if !e.refill(ctx) {
			return false
		}
	}
}

// refill requests more iterations from the budget and reports whether some are
// available.
func (e *Engine) refill(ctx context.Context) bool {
	if e.budget == nil {
		return false
	}
	e.refillMu.Lock()
	defer e.refillMu.Unlock()
	if e.remaining.Load() > 0 {
		return true // another user refilled while this one waited
	}
	if e.exhausted.Load() {
		return false
	}
	first, n, err := e.budget.Grant(ctx)
	if err != nil {
		return false
	}
	if n <= 0 {
		e.exhausted.Store(true)
		return false
	}
	if e.data != nil && e.data.once {
		e.iterations.add(first, n)
	}
	e.remaining.Add(n)
	return true
}

// expiredNow reports whether the validity set with SetValidUntil passed.
func (e *Engine) expiredNow() bool {
	limit := e.validUntil.Load()
	if limit == 0 || int64(time.Since(e.origin)) <= limit {
		return false
	}
	e.expired.Store(true)
	return true
}
