// Package coordinator runs a plan over NATS: it announces the run, waits
// for workers, splits the plan over them and rebalances it as workers come
// and go, merges the workers' reports and publishes live and final
// statistics.
package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/threshold"
)

// Defaults of Config.
const (
	DefaultReportInterval = 2 * time.Second
	DefaultLease          = 5 * time.Second
)

// rebalanceDelay gathers the joins and departures of a moment into one
// rebalance, so that a hundred workers starting together cause a few
// rebalances rather than a hundred.
const rebalanceDelay = 100 * time.Millisecond

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
	// OnLive, if set, is called with the live statistics every interval,
	// from the goroutine that runs the run: it must return quickly.
	OnLive func(Snapshot)
	// OnDeparture, if set, is called when a worker leaves while the run
	// is waiting or running, so that a launcher can start a replacement.
	// It is called from the goroutine that runs the run: it must return
	// quickly.
	OnDeparture func(Departure)
}

// Run announces the run and drives it to its end. Cancelling ctx stops the
// run early: workers stop their users and Run still returns the summary of
// everything they reported. The error is non-nil only when the run could
// not start, because too few workers joined or NATS failed. When too few
// workers joined, Run also returns a summary without requests, with
// Complete false and the error as its Problem, so that the outputs still
// state why. A run that ended early or lost reports returns a summary with
// Complete false.
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

		rejections: make(map[string]string),
		slots:      make(map[string]*slot),
		grants:     make(map[string]grantMemo),

		thresholds: threshold.Groups(cfg.Plan),
	}
	return r.run(ctx)
}

// runner is the state of one run in the coordinator. One goroutine owns it.
type runner struct {
	cfg     Config
	bus     *bus.Bus
	log     *slog.Logger
	agg     *aggregate
	record  bus.Run
	lease   *bus.Lease
	present map[string]bus.Presence // workers whose presence key exists
	// rejections maps the workers that rejected the run to their reasons.
	rejections map[string]string
	// rejected counts the messages dropped as malformed or foreign.
	rejected uint64
	slots    map[string]*slot // shares by worker id, of workers present or gone
	next     int              // index of the next new share

	reports     chan []byte
	grantReqs   chan *nats.Msg
	grants      map[string]grantMemo // newest grant per worker
	granted     int64                // iterations granted so far
	started     time.Time
	lastTick    time.Time
	history     []Point
	interrupted bool // a signal stopped the run

	thresholds []threshold.Group // the plan's threshold groups that set a limit
	stages     stageState        // progress through the plan's stages
	aborted    string            // the problem of a run stopped by a failed threshold, or empty

	startFailure string // the first error of a worker that could not start its share
	unrunnable   string // the problem of a run that no worker could start, or empty

	rebalance <-chan time.Time // fires when a rebalance is due
	timeUp    <-chan time.Time // fires when the plan's duration has passed
	overdue   <-chan time.Time // fires when final reports are late
}

func (r *runner) run(ctx context.Context) (*Summary, error) {
	// Background contexts keep NATS calls working after ctx requested a stop.
	bg, cancel := context.WithCancel(context.Background())
	defer cancel()

	consumer, err := r.consumeReports(bg)
	if err != nil {
		return nil, err
	}
	defer consumer.Stop()
	r.grantReqs = make(chan *nats.Msg, 256)
	grantSub, err := r.bus.NC.ChanSubscribe(bus.GrantSubject(r.cfg.RunID), r.grantReqs)
	if err != nil {
		return nil, fmt.Errorf("serve iteration grants: %w", err)
	}
	defer grantSub.Unsubscribe()

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

	watcher, err := r.bus.Watch(bg, bus.WorkersPattern(r.cfg.RunID))
	if err != nil {
		return nil, fmt.Errorf("watch workers: %w", err)
	}
	defer watcher.Stop()

	return r.loop(ctx, bg, watcher)
}

func (r *runner) loop(ctx, bg context.Context, watcher jetstream.KeyWatcher) (*Summary, error) {
	// Workers report every interval from when they start, at about the
	// moments the run started. Publishing half an interval later lets each
	// publication include the reports of the interval just ended.
	publish := time.NewTimer(r.cfg.ReportInterval / 2)
	defer publish.Stop()
	renew := time.NewTimer(r.cfg.Lease / 3)
	defer renew.Stop()
	joinTimeout := time.NewTimer(r.cfg.Plan.Workers.JoinTimeout)
	defer joinTimeout.Stop()
	stop := ctx.Done()
	defer r.stopStages()

	for {
		select {
		case <-stop:
			stop = nil
			r.interrupted = true
			if r.record.State == bus.RunWaiting {
				r.setState(bg, bus.RunDone)
				return nil, context.Cause(ctx)
			}
			r.beginStopping(bg, "signal")
		case <-joinTimeout.C:
			if r.record.State == bus.RunWaiting {
				r.setState(bg, bus.RunDone)
				err := fmt.Errorf("%w: %d of %d after %s; start more workers (worker --nats URL) or lower workers.min%s",
					ErrNoWorkers, len(r.present), r.cfg.Plan.Workers.Min, r.cfg.Plan.Workers.JoinTimeout, r.rejectionText())
				return r.unstarted(err), err
			}
		case entry := <-watcher.Updates():
			r.onPresence(entry)
			if r.record.State == bus.RunWaiting && len(r.present) >= r.cfg.Plan.Workers.Min {
				r.begin(bg)
				publish.Reset(r.cfg.ReportInterval / 2)
			}
			r.checkRunnable(bg)
		case <-r.rebalance:
			r.rebalance = nil
			r.rebalanceShares(bg)
		case <-r.stageTick():
			r.stepStages(bg)
		case data := <-r.reports:
			r.onReport(data)
		case msg := <-r.grantReqs:
			r.onGrant(msg)
		case <-renew.C:
			if r.renew(bg) {
				renew.Reset(r.cfg.Lease / 3)
			} else {
				renew.Reset(r.retryEvery())
			}
		case now := <-publish.C:
			r.publishLive(now)
			publish.Reset(r.cfg.ReportInterval - time.Since(now))
			r.checkThresholds(bg, now)
		case <-r.timeUp:
			r.timeUp = nil
			r.beginStopping(bg, "duration")
		case <-r.overdue:
			problem := r.missingProblem("timed out waiting for final reports")
			if r.aborted != "" {
				problem = r.aborted + "; " + problem
			}
			return r.finish(bg, problem), nil
		}

		if r.record.State == bus.RunRunning && r.iterationsDone() {
			r.beginStopping(bg, "iterations")
		}
		if r.record.State == bus.RunStopping && r.allFinal() {
			problem := ""
			switch {
			case r.aborted != "":
				problem = r.aborted
			case r.unrunnable != "":
				problem = r.unrunnable
			case r.interrupted:
				problem = "stopped before the end by a signal"
			}
			return r.finish(bg, problem), nil
		}
	}
}

// begin splits the plan over the workers present and starts the run.
func (r *runner) begin(ctx context.Context) {
	r.started = time.Now()
	r.lastTick = r.started
	r.rebalanceShares(ctx)
	r.startStages()
	r.record.Started = r.started
	r.setState(ctx, bus.RunRunning)
	if r.cfg.Plan.Duration > 0 {
		r.timeUp = time.After(r.cfg.Plan.Duration)
	}
	r.log.Info("run started", "workers", len(r.present), "users", r.cfg.Plan.Users)
}

// beginStopping sets the run stopping so that workers stop, and waits for their final
// reports, up to a request timeout and a few report intervals.
func (r *runner) beginStopping(ctx context.Context, reason string) {
	if r.record.State != bus.RunRunning {
		return
	}
	r.log.Info("stopping run: waiting for final reports", "reason", reason)
	r.setState(ctx, bus.RunStopping)
	r.overdue = time.After(r.cfg.Plan.Timeout + 2*r.cfg.ReportInterval + r.cfg.Lease)
}

// iterationsDone reports whether every iteration has been granted and
// every share that received some has sent its final report.
func (r *runner) iterationsDone() bool {
	if r.cfg.Plan.Iterations <= 0 || r.granted < r.cfg.Plan.Iterations {
		return false
	}
	for _, s := range r.slots {
		if s.granted > 0 && !s.departed && !r.agg.finals[s.index] {
			return false
		}
	}
	return true
}

// allFinal reports whether every share of a worker still present has sent
// its final report.
func (r *runner) allFinal() bool {
	for _, s := range r.slots {
		if !s.departed && !r.agg.finals[s.index] {
			return false
		}
	}
	return true
}

func (r *runner) onReport(data []byte) {
	rep, err := bus.DecodeReport(data)
	if err != nil {
		r.agg.dropped++
		r.rejectMessage("report", err)
		return
	}
	// Only a worker given a share reports on it, so a report from anyone
	// else, however well formed, must not change the totals.
	if s := r.slots[rep.Worker]; rep.Run == r.cfg.RunID && (s == nil || s.index != rep.Share) {
		r.agg.dropped++
		r.rejectMessage("report", fmt.Errorf("worker %q holds no share %d in this run", rep.Worker, rep.Share))
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

// rejectMessage counts a malformed or foreign message of kind, such as
// "report", and logs it. After the first ten, only every thousandth is
// logged, so that a flood of bad messages cannot flood the log too.
func (r *runner) rejectMessage(kind string, err error) {
	r.rejected++
	if r.rejected <= 10 || r.rejected%1000 == 0 {
		r.log.Warn("dropped invalid message", "kind", kind, "err", err, "rejected_messages", r.rejected)
	}
}

func (r *runner) missingProblem(reason string) string {
	missing, total := 0, 0
	for _, s := range r.slots {
		if s.departed {
			continue
		}
		total++
		if !r.agg.finals[s.index] {
			missing++
		}
	}
	return fmt.Sprintf("%s: %d of %d shares sent none", reason, missing, total)
}

// setState writes the run record with a new state and reports whether the
// write succeeded. A failed write is repeated by the next renewal.
func (r *runner) setState(ctx context.Context, state bus.RunState) bool {
	r.record.State = state
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Lease/3)
	defer cancel()
	if err := r.lease.Set(ctx, mustJSON(r.record)); err != nil {
		r.log.Error("could not update the run record; will retry", "state", state, "err", err)
		return false
	}
	return true
}

// retryEvery returns how soon a failed write of the run record is tried
// again, so that the lease outlives an outage that ends well within it.
func (r *runner) retryEvery() time.Duration {
	return min(max(r.cfg.Lease/15, 100*time.Millisecond), time.Second)
}

// renew renews the lease on the run and reports whether it succeeded. It
// writes the record as it is now, so that a change of state whose write
// failed reaches the workers with the next renewal.
func (r *runner) renew(ctx context.Context) bool {
	// While NATS is unreachable a renewal waits for its timeout; a third of
	// a lease keeps the run loop, and the next renewal, on time.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Lease/3)
	defer cancel()
	err := r.lease.Set(ctx, mustJSON(r.record))
	if errors.Is(err, bus.ErrLeaseLost) {
		// The record expired, for example while NATS was unreachable, and
		// workers stopped. Announcing it again lets waiting workers rejoin.
		lease, acquireErr := r.bus.Acquire(ctx, bus.RunKey(r.cfg.RunID), mustJSON(r.record), r.cfg.Lease)
		if acquireErr == nil {
			r.lease = lease
			r.log.Warn("the lease on the run had expired; announced it again")
			return true
		}
		err = acquireErr
	}
	if err != nil {
		r.log.Error("could not renew the lease on the run", "err", err)
		return false
	}
	return true
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
