// Package launch starts the workers of a run on a platform, AWS Lambda or
// Nomad, and starts a replacement for each one that leaves before the run
// ends.
//
// Launched workers hold one of a fixed number of places of the fleet
// (slots.<run>.<n> in the bucket), so a platform that starts a worker twice,
// such as Lambda retrying an asynchronous invocation, never adds load: the
// extra worker finds no free place and exits at once.
package launch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/worker"
)

// Defaults of Config.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// startConcurrency bounds the start requests in flight while the first
// workers of a run are started.
const startConcurrency = 16

// announceTimeout bounds the wait for the run record before the first
// workers start.
const announceTimeout = 30 * time.Second

// stopGrace is how long Stop lets start requests in flight finish before
// it cancels them. An asynchronous Lambda invocation returns at once, but
// the runtime interface emulator responds only when the function returns.
const stopGrace = 5 * time.Second

// Platform starts workers on one kind of infrastructure.
type Platform interface {
	// Name returns the platform's name for the log, such as "lambda".
	Name() string
	// Start starts one worker that joins the run and returns a name for
	// the log, such as a request id or a dispatched job's id.
	Start(ctx context.Context) (string, error)
}

// ExitWatcher is a Platform that learns by itself when a worker it
// started has finished, as Nomad does from allocations. The launcher then
// ignores the departures that the coordinator reports.
type ExitWatcher interface {
	Platform
	// WatchExits calls exited for each worker that finished, until ctx is
	// done. It returns when ctx is done.
	WatchExits(ctx context.Context, exited func(Exit))
}

// Exit is a launched worker that finished or left the run.
type Exit struct {
	// Name identifies the worker in the log.
	Name string
	// Clean reports whether it ended on purpose after doing its part. A
	// replacement for a worker that did not starts after a growing delay,
	// so that a worker that fails at once is not started in a tight loop.
	Clean bool
}

// Config sets up a Launcher. Platform, Bus, Run and Workers are required.
type Config struct {
	Platform Platform
	// Bus is used to read the run record: replacements start only while
	// the run is waiting or running.
	Bus *bus.Bus
	// Run is the run id.
	Run string
	// Workers is the size of the fleet, from 1 to worker.MaxSlots.
	Workers int
	// MinBackoff and MaxBackoff bound the delay before a replacement for
	// a worker that failed; zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Logger receives the launcher's log; nil means slog.Default.
	Logger *slog.Logger
}

// Launcher keeps a fleet of workers for one run: it starts Config.Workers
// of them, then a replacement for each that leaves before the run ends.
// Start and Stop are called once each, from one goroutine; Departed is safe
// for concurrent use.
type Launcher struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	exits    []Exit        // guarded by mu
	notify   chan struct{} // signals a new exit
	started  int           // workers started; guarded by mu
	failures int           // start requests that failed; guarded by mu

	cancel      context.CancelFunc // stops starting workers
	cancelStart context.CancelFunc // cancels the start requests in flight
	startCtx    context.Context    // of start requests
	done        chan struct{}
}

// New checks cfg and returns a launcher that has not started anything.
func New(cfg Config) (*Launcher, error) {
	switch {
	case cfg.Platform == nil || cfg.Bus == nil:
		return nil, errors.New("launch: platform and bus are required")
	case !bus.ValidID(cfg.Run):
		return nil, fmt.Errorf("launch: invalid run id %q", cfg.Run)
	case cfg.Workers < 1 || cfg.Workers > worker.MaxSlots:
		return nil, fmt.Errorf("invalid --workers %d: use 1 to %d", cfg.Workers, worker.MaxSlots)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Launcher{
		cfg:    cfg,
		log:    log.With("run", cfg.Run, "platform", cfg.Platform.Name()),
		notify: make(chan struct{}, 1),
	}, nil
}

// Start starts the fleet in the background once the run is announced.
// Stop ends it.
func (l *Launcher) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.startCtx, l.cancelStart = context.WithCancel(context.Background())
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
}

// Stop stops starting workers and waits for the start requests in flight,
// for stopGrace at most before it cancels them. Workers already started
// leave by themselves when the run ends. It is safe to call twice.
func (l *Launcher) Stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(stopGrace):
		l.cancelStart()
		<-l.done
	}
	l.cancelStart()
}

// Departed takes a departure from the coordinator (Config.OnDeparture).
// It starts a replacement unless the platform watches its workers itself.
// It never blocks.
func (l *Launcher) Departed(d coordinator.Departure) {
	if _, ok := l.cfg.Platform.(ExitWatcher); ok {
		return
	}
	l.exited(Exit{Name: d.Worker, Clean: d.Clean})
}

// Started returns how many workers the launcher started, and how many
// start requests failed.
func (l *Launcher) Started() (started, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.started, l.failures
}

func (l *Launcher) exited(e Exit) {
	l.mu.Lock()
	l.exits = append(l.exits, e)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *Launcher) takeExits() []Exit {
	l.mu.Lock()
	defer l.mu.Unlock()
	exits := l.exits
	l.exits = nil
	return exits
}

func (l *Launcher) run(ctx context.Context) {
	if err := l.waitAnnounced(ctx); err != nil {
		if ctx.Err() == nil {
			l.log.Error("no worker started", "err", err)
		}
		return
	}
	if w, ok := l.cfg.Platform.(ExitWatcher); ok {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.WatchExits(ctx, l.exited)
		}()
		defer wg.Wait()
	}

	l.log.Info("starting workers", "workers", l.cfg.Workers)
	failed := l.startMany(ctx, l.cfg.Workers)
	l.replace(ctx, failed)
}

// startMany starts n workers, a few at a time, and returns how many start
// requests failed.
func (l *Launcher) startMany(ctx context.Context, n int) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	limit := make(chan struct{}, startConcurrency)
	for range n {
		select {
		case limit <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return failed
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-limit }()
			if !l.startOne(ctx, "start") {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// startOne starts one worker and reports whether the platform accepted it.
// The request may outlive ctx by stopGrace, so that Stop does not cut off
// a start that is about to succeed.
func (l *Launcher) startOne(ctx context.Context, reason string) bool {
	name, err := l.cfg.Platform.Start(l.startCtx)
	l.mu.Lock()
	if err == nil {
		l.started++
	} else {
		l.failures++
	}
	l.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			l.log.Error("could not start a worker; will retry", "reason", reason, "err", err)
		}
		return false
	}
	l.log.Info("worker started", "reason", reason, "name", name)
	return true
}

// replace starts a replacement for every worker that exits, and for every
// start request that failed, until ctx is done or the run ends.
func (l *Launcher) replace(ctx context.Context, pending int) {
	var due []time.Time // when each pending replacement may start
	failures := 0       // consecutive failures, for the backoff
	schedule := func(clean bool) {
		delay := time.Duration(0)
		if clean {
			failures = 0
		} else {
			failures++
			delay = min(l.cfg.MaxBackoff, l.cfg.MinBackoff<<min(failures-1, 20))
		}
		due = append(due, time.Now().Add(delay))
	}
	for range pending {
		schedule(false)
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(due) > 0 {
			timer.Reset(max(0, time.Until(earliest(due))))
		}
		select {
		case <-ctx.Done():
			return
		case <-l.notify:
			for _, e := range l.takeExits() {
				if e.Clean {
					l.log.Info("worker handed its share back; starting a replacement", "name", e.Name)
				} else {
					l.log.Warn("worker left without finishing its share; starting a replacement after a delay", "name", e.Name)
				}
				schedule(e.Clean)
			}
		case <-timer.C:
		}

		now := time.Now()
		var ready int
		due, ready = splitDue(due, now)
		if ready == 0 {
			continue
		}
		if !l.runActive(ctx) {
			l.log.Info("the run is ending; no more replacements", "skipped", ready+len(due))
			due = nil
			continue
		}
		for range ready {
			if !l.startOne(ctx, "replace") {
				schedule(false)
			}
		}
	}
}

// waitAnnounced waits until the run record exists, so that the first
// workers find it.
func (l *Launcher) waitAnnounced(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, announceTimeout)
	defer cancel()
	for {
		_, err := l.cfg.Bus.KV.Get(ctx, bus.RunKey(l.cfg.Run))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) && ctx.Err() == nil {
			l.log.Warn("could not read the run record", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("run %s was not announced within %s: %w", l.cfg.Run, announceTimeout, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runActive reports whether the run is waiting or running.
func (l *Launcher) runActive(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	entry, err := l.cfg.Bus.KV.Get(ctx, bus.RunKey(l.cfg.Run))
	if err != nil {
		return false
	}
	var run struct {
		State bus.RunState `json:"state"`
	}
	if err := json.Unmarshal(entry.Value(), &run); err != nil {
		return false
	}
	return run.State == bus.RunWaiting || run.State == bus.RunRunning
}

func earliest(times []time.Time) time.Time {
	first := times[0]
	for _, t := range times[1:] {
		if t.Before(first) {
			first = t
		}
	}
	return first
}

// splitDue removes the times that have come from due and returns the rest
// and how many were removed.
func splitDue(due []time.Time, now time.Time) ([]time.Time, int) {
	rest := due[:0]
	for _, t := range due {
		if t.After(now) {
			rest = append(rest, t)
		}
	}
	return rest, len(due) - len(rest)
}
