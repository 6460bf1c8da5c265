// Package coordinator runs a plan over NATS: it announces the run, waits
// for workers, assigns shares, merges the workers' reports and publishes
// live and final statistics.
package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
)

// Defaults of Config.
const (
	DefaultReportInterval = 2 * time.Second
	DefaultLease          = 5 * time.Second
)

// ErrNoWorkers is returned when workers.min workers did not join within
// workers.join_timeout.
var ErrNoWorkers = errors.New("not enough workers joined")

// Config sets up a run. Plan and RunID are required.
type Config struct {
	Plan  *plan.Plan
	RunID string
	// ReportInterval is how often workers report and live statistics are
	// published; zero means DefaultReportInterval.
	ReportInterval time.Duration
	// Lease is how long a lease on the run, a worker's presence or a claim
	// lasts without renewal; zero means DefaultLease.
	Lease time.Duration
	// Logger receives the coordinator's log; nil means slog.Default.
	Logger *slog.Logger
	// OnLive, if set, is called with the live summary every interval.
	OnLive func(Live)
}

// Run announces the run and drives it to its end. Cancelling ctx stops the
// run early: workers stop their users and Run still returns the summary of
// everything they reported. The error is non-nil only when the run could
// not start (no workers, NATS failures); an incomplete run returns a
// summary with Complete false.
func Run(ctx context.Context, b *bus.Bus, cfg Config) (*Summary, error) {
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !bus.ValidID(cfg.RunID) {
		return nil, fmt.Errorf("invalid run id %q: use 1 to 64 letters, digits, '-' or '_'", cfg.RunID)
	}
	r := &runner{
		cfg:     cfg,
		bus:     b,
		log:     cfg.Logger.With("run", cfg.RunID),
		agg:     newAggregate(cfg.RunID, cfg.Plan),
		present: make(map[string]bus.Presence),
		lost:    make(map[int]string),
	}
	return r.run(ctx)
}

// runner is the state of one run in the coordinator. One goroutine owns it.
type runner struct {
	cfg      Config
	bus      *bus.Bus
	log      *slog.Logger
	agg      *aggregate
	record   bus.Run
	lease    *bus.Lease
	present  map[string]bus.Presence // workers whose presence key exists
	assigned map[int]string          // share index to worker id
	lost     map[int]string          // shares whose worker left without a final report
	reports  chan []byte
	started  time.Time
	lastTick time.Time
	workersN int // workers that took part
	stopping bool
}

func (r *runner) run(ctx context.Context) (*Summary, error) {
	// Background contexts keep NATS calls working while ctx asks for a stop.
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()

	consumer, err := r.consumeReports(bg)
	if err != nil {
		return nil, err
	}
	defer consumer.Stop()

	r.record = bus.Run{
		ID:             r.cfg.RunID,
		State:          bus.RunWaiting,
		Coordinator:    r.cfg.RunID,
		Plan:           r.cfg.Plan,
		ReportInterval: r.cfg.ReportInterval,
		Lease:          r.cfg.Lease,
	}
	r.lease, err = r.bus.Acquire(bg, bus.RunKey(r.cfg.RunID), mustJSON(r.record), r.cfg.Lease)
	if errors.Is(err, bus.ErrTaken) {
		return nil, fmt.Errorf("run id %q is in use by another coordinator: pick another with --run", r.cfg.RunID)
	}
	if err != nil {
		return nil, fmt.Errorf("announce run: %w", err)
	}
	r.log.Info("run announced", "workers_min", r.cfg.Plan.Workers.Min)

	watcher, err := r.bus.KV.Watch(bg, bus.WorkersPattern(r.cfg.RunID))
	if err != nil {
		return nil, fmt.Errorf("watch workers: %w", err)
	}
	defer watcher.Stop()

	return r.loop(ctx, bg, watcher)
}

func (r *runner) loop(ctx, bg context.Context, watcher jetstream.KeyWatcher) (*Summary, error) {
	publish := time.NewTicker(r.cfg.ReportInterval)
	defer publish.Stop()
	renew := time.NewTicker(r.cfg.Lease / 3)
	defer renew.Stop()
	joinTimeout := time.NewTimer(r.cfg.Plan.Workers.JoinTimeout)
	defer joinTimeout.Stop()
	stop := ctx.Done()
	var overdue <-chan time.Time

	for {
		select {
		case <-stop:
			stop = nil
			r.stopping = true
			if r.record.State == bus.RunWaiting {
				r.setState(bg, bus.RunDone)
				return nil, context.Cause(ctx)
			}
			r.log.Info("stopping run: waiting for final reports")
			r.setState(bg, bus.RunStopping)
			overdue = time.After(r.cfg.Plan.Timeout + 2*r.cfg.ReportInterval + r.cfg.Lease)
		case <-joinTimeout.C:
			if r.record.State == bus.RunWaiting {
				r.setState(bg, bus.RunDone)
				return nil, fmt.Errorf("%w: %d of %d after %s; start more workers (worker --nats URL) or lower workers.min",
					ErrNoWorkers, len(r.present), r.cfg.Plan.Workers.Min, r.cfg.Plan.Workers.JoinTimeout)
			}
		case entry := <-watcher.Updates():
			r.onPresence(entry)
			if r.record.State == bus.RunWaiting && len(r.present) >= r.cfg.Plan.Workers.Min {
				if err := r.assign(bg); err != nil {
					return nil, err
				}
				overdue = r.deadline()
			}
		case data := <-r.reports:
			r.onReport(data)
		case <-renew.C:
			r.renew(bg)
		case now := <-publish.C:
			r.publishLive(now)
		case <-overdue:
			return r.finish(bg, r.missingProblem("timed out waiting for final reports")), nil
		}
		if r.record.State != bus.RunWaiting && r.allSharesEnded() {
			problem := r.lostProblem()
			if problem == "" && r.stopping {
				problem = "stopped before the end by a signal"
			}
			return r.finish(bg, problem), nil
		}
	}
}

// deadline returns when a run with a duration must have ended, with room
// for the last requests and the final reports; nil without a duration.
func (r *runner) deadline() <-chan time.Time {
	if r.cfg.Plan.Duration <= 0 {
		return nil
	}
	return time.After(r.cfg.Plan.Duration + r.cfg.Plan.Timeout + 3*r.cfg.ReportInterval + r.cfg.Lease)
}

func (r *runner) onPresence(entry jetstream.KeyValueEntry) {
	if entry == nil {
		return
	}
	id := lastToken(entry.Key())
	if entry.Operation() != jetstream.KeyValuePut {
		delete(r.present, id)
		r.log.Info("worker left", "worker_id", id)
		for share, worker := range r.assigned {
			if worker == id && !r.agg.finals[share] {
				r.log.Error("worker left without a final report; its share's remaining load is lost", "worker_id", id, "share", share)
				r.lost[share] = id
				if w := r.agg.workers[id]; w != nil {
					w.users = 0
				}
			}
		}
		return
	}
	var p bus.Presence
	if err := json.Unmarshal(entry.Value(), &p); err != nil || p.ID != id {
		r.log.Warn("ignoring invalid worker presence", "key", entry.Key(), "err", err)
		return
	}
	if _, known := r.present[id]; !known {
		r.log.Info("worker joined", "worker_id", id, "host", p.Host)
	}
	r.present[id] = p
}

// assign splits the plan over the workers present and starts the run.
func (r *runner) assign(ctx context.Context) error {
	ids := make([]string, 0, len(r.present))
	for id := range r.present {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	shares := r.cfg.Plan.Split(len(ids))
	r.assigned = make(map[int]string, len(shares))
	for i, s := range shares {
		a := bus.Assignment{Share: s, Worker: ids[i], Duration: r.cfg.Plan.Duration}
		if _, err := r.bus.KV.Put(ctx, bus.ShareKey(r.cfg.RunID, s.Index), mustJSON(a)); err != nil {
			return fmt.Errorf("write share %d: %w", s.Index, err)
		}
		r.assigned[s.Index] = ids[i]
	}
	r.workersN = len(ids)
	r.started = time.Now()
	r.lastTick = r.started
	r.record.Shares = len(shares)
	r.record.Started = r.started
	r.setState(ctx, bus.RunRunning)
	r.log.Info("run started", "workers", len(ids), "users", r.cfg.Plan.Users)
	return nil
}

func (r *runner) onReport(data []byte) {
	rep, err := bus.DecodeReport(data)
	if err != nil {
		r.agg.dropped++
		r.log.Warn("dropped invalid report", "err", err, "dropped", r.agg.dropped)
		return
	}
	if !r.agg.add(rep, time.Now()) {
		r.log.Debug("dropped duplicate or foreign report", "worker_id", rep.Worker, "seq", rep.Seq)
		return
	}
	if rep.Final {
		r.log.Info("final report", "worker_id", rep.Worker, "share", rep.Share)
	}
}

// allSharesEnded reports whether every assigned share sent its final report
// or was lost with its worker.
func (r *runner) allSharesEnded() bool {
	for share := range r.assigned {
		if !r.agg.finals[share] && r.lost[share] == "" {
			return false
		}
	}
	return true
}

func (r *runner) lostProblem() string {
	if len(r.lost) == 0 {
		return ""
	}
	shares := make([]int, 0, len(r.lost))
	for share := range r.lost {
		shares = append(shares, share)
	}
	sort.Ints(shares)
	names := make([]string, len(shares))
	for i, share := range shares {
		names[i] = fmt.Sprintf("share %d (worker %s)", share, r.lost[share])
	}
	return fmt.Sprintf("%d of %d shares lost their worker before the end: %s",
		len(r.lost), len(r.assigned), strings.Join(names, ", "))
}

func (r *runner) missingProblem(reason string) string {
	missing := 0
	for share := range r.assigned {
		if !r.agg.finals[share] {
			missing++
		}
	}
	return fmt.Sprintf("%s: %d of %d shares sent none", reason, missing, len(r.assigned))
}

func (r *runner) setState(ctx context.Context, state bus.RunState) {
	r.record.State = state
	if err := r.lease.Set(ctx, mustJSON(r.record)); err != nil {
		r.log.Error("could not update the run record", "state", state, "err", err)
	}
}

func (r *runner) renew(ctx context.Context) {
	err := r.lease.Renew(ctx)
	if errors.Is(err, bus.ErrLeaseLost) {
		// The record expired, for example while NATS was unreachable, and
		// workers stopped. Announcing it again lets waiting workers rejoin.
		lease, acquireErr := r.bus.Acquire(ctx, bus.RunKey(r.cfg.RunID), mustJSON(r.record), r.cfg.Lease)
		if acquireErr == nil {
			r.lease = lease
			r.log.Warn("the lease on the run had expired; announced it again")
			return
		}
		err = acquireErr
	}
	if err != nil {
		r.log.Error("could not renew the lease on the run", "err", err)
	}
}

func lastToken(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on types that always marshal
	}
	return data
}
