// Package worker joins runs announced on NATS, claims a share, generates
// its load with the engine and sends reports to the coordinator.
package worker

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
)

// Config sets up a worker. The zero value joins the first run announced,
// under a generated id.
type Config struct {
	// ID names the worker in reports; empty means host name, process id
	// and a random suffix.
	ID string
	// Run restricts the worker to the run with this id; empty means the
	// first run that is waiting or running.
	Run string
	// Logger receives the worker's log; nil means slog.Default.
	Logger *slog.Logger
	// Allow, when set, lists the only hosts the worker sends load to. The
	// worker rejects a plan aimed at any other host, and its engine refuses
	// connections elsewhere, redirects included.
	Allow *allowlist.List

	// Slots, when above zero, makes this a launched worker of a fleet of
	// that many places, such as a Lambda invocation or a Nomad dispatch.
	// It needs Run. The worker takes part only if it can lease one of the
	// places (key slots.<run>.<n>), and Run returns ErrNoFreeSlot at once
	// otherwise. It also returns ErrRunOver at once when the run has ended
	// or was never announced, instead of waiting for a run.
	Slots int
	// Deadline, when set, is when the process will be stopped from
	// outside, such as the end of a Lambda invocation. The worker hands its
	// share back at Deadline minus the plan's graceful_stop minus
	// HandoverMargin, so that its last requests end and its final report is
	// sent in time, and Run then returns ErrHandedOver.
	Deadline time.Time
	// HandoverMargin is the time kept after the graceful stop for the
	// final report and for leaving the run; zero means
	// DefaultHandoverMargin.
	HandoverMargin time.Duration
}

// Worker serves one run. It is not safe for concurrent use.
type Worker struct {
	bus      *bus.Bus
	id       string
	run      string
	log      *slog.Logger
	allow    *allowlist.List
	slots    int
	deadline time.Time
	margin   time.Duration
}

// New returns a worker that talks to NATS through b. It returns an error
// when cfg.ID or cfg.Run is not a valid id.
func New(b *bus.Bus, cfg Config) (*Worker, error) {
	id := cfg.ID
	if id == "" {
		id = NewID()
	}
	if !bus.ValidID(id) {
		return nil, fmt.Errorf("invalid worker id %q: use 1 to 64 letters, digits, '-' or '_'", id)
	}
	if cfg.Run != "" && !bus.ValidID(cfg.Run) {
		return nil, fmt.Errorf("invalid run id %q: use 1 to 64 letters, digits, '-' or '_'", cfg.Run)
	}
	if cfg.Slots < 0 || cfg.Slots > MaxSlots {
		return nil, fmt.Errorf("invalid slot count %d: use 1 to %d, or 0 for a worker that is not launched", cfg.Slots, MaxSlots)
	}
	if cfg.Slots > 0 && cfg.Run == "" {
		return nil, errors.New("a launched worker (slot count above 0) needs the run id")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	margin := cfg.HandoverMargin
	if margin <= 0 {
		margin = DefaultHandoverMargin
	}
	return &Worker{
		bus:      b,
		id:       id,
		run:      cfg.Run,
		log:      log.With("worker_id", id),
		slots:    cfg.Slots,
		deadline: cfg.Deadline,
		margin:   margin,
		allow:    cfg.Allow,
	}, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.id }

// Run waits for a run, takes part in it and returns when it ends: when the
// coordinator marks it done, when the coordinator's lease expires, or when
// ctx is done. Its share, if it got one, has then sent its final report.
//
// A launched worker (Config.Slots above 0) returns ErrRunOver or
// ErrNoFreeSlot at once when it cannot take part, and one with a Deadline
// returns ErrHandedOver after it handed its share back before the deadline.
func (w *Worker) Run(ctx context.Context) error {
	var run *bus.Run
	var err error
	if w.slots > 0 {
		run, err = w.currentRun(ctx)
	} else {
		run, err = w.waitForRun(ctx)
	}
	if err != nil {
		return err
	}
	log := w.log.With("run", run.ID)
	if err := w.checkTargets(ctx, run.Plan); err != nil {
		log.Error("rejecting the run: its plan targets a host outside --allow-target", "err", err)
		w.reject(ctx, run, err)
		return fmt.Errorf("reject run %s: %w", run.ID, err)
	}
	p := &participation{worker: w, log: log, run: run, finished: make(map[int]bool)}

	parent := ctx
	if !w.deadline.IsZero() {
		handover, err := w.handoverTime(run)
		if err != nil {
			return err
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, handover)
		defer cancel()
		p.handover = handover
	}
	if w.slots > 0 {
		slot, err := w.claimSlot(ctx, run)
		if err != nil {
			return err
		}
		p.slot = slot
		log = log.With("slot", lastToken(slot.Key()))
		p.log = log
	}

	log.Info("joining run", "state", run.State, "users", run.Plan.Users)
	err = p.serve(ctx)
	if errors.Is(err, context.DeadlineExceeded) && !p.handover.IsZero() && parent.Err() == nil {
		log.Info("handed the share back before the deadline", "deadline", w.deadline.Format(time.RFC3339Nano))
		return ErrHandedOver
	}
	return err
}

// checkTargets returns an error when a task of p sends requests to a host
// that the worker's allow list does not allow.
func (w *Worker) checkTargets(ctx context.Context, p *plan.Plan) error {
	if w.allow == nil {
		return nil
	}
	for _, t := range p.Tasks {
		urls := []string{t.URL}
		for _, s := range t.Steps {
			urls = append(urls, s.URL)
		}
		for _, raw := range urls {
			if raw == "" {
				continue // a Go task, or a task with steps, whose connections the engine checks
			}
			u, err := url.Parse(raw)
			if err != nil {
				return fmt.Errorf("task %s: %w", t.Name, err)
			}
			if err := w.allow.Check(ctx, u.Hostname()); err != nil {
				return fmt.Errorf("task %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// reject informs the coordinator that the worker rejected run and why, with
// a presence in the rejected state that expires after the run's lease.
func (w *Worker) reject(ctx context.Context, run *bus.Run, reason error) {
	host, _ := os.Hostname()
	presence := bus.Presence{
		ID: w.id, Host: host, PID: os.Getpid(),
		State: bus.WorkerRejected, Share: -1, Reason: reason.Error(),
	}
	if _, err := w.bus.Acquire(ctx, bus.WorkerKey(run.ID, w.id), mustJSON(presence), run.Lease); err != nil {
		w.log.Warn("could not tell the coordinator that the run was rejected", "run", run.ID, "err", err)
	}
}

// waitForRun watches the bucket for a run this worker may join.
func (w *Worker) waitForRun(ctx context.Context) (*bus.Run, error) {
	pattern := bus.RunKey("*")
	if w.run != "" {
		pattern = bus.RunKey(w.run)
	}
	watcher, err := w.bus.Watch(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("watch runs: %w", err)
	}
	defer watcher.Stop()

	announced := false
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case entry, ok := <-watcher.Updates():
			if !ok {
				return nil, errors.New("watch runs: watcher closed")
			}
			if entry == nil {
				if !announced {
					w.log.Info("waiting for a run")
					announced = true
				}
				continue
			}
			if entry.Operation() != jetstream.KeyValuePut {
				continue
			}
			run, err := decodeRun(entry.Value())
			if err != nil {
				w.log.Warn("ignoring invalid run record", "key", entry.Key(), "err", err)
				continue
			}
			if run.State == bus.RunWaiting || run.State == bus.RunRunning {
				return run, nil
			}
		}
	}
}

func decodeRun(data []byte) (*bus.Run, error) {
	var run bus.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, err
	}
	if !bus.ValidID(run.ID) || run.Plan == nil || run.Lease <= 0 || run.ReportInterval <= 0 {
		return nil, fmt.Errorf("run record %q is incomplete", run.ID)
	}
	return &run, nil
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// NewID returns a worker id made of the host name, the process id and a
// random suffix, such as web-3-4182-k2x9.
func NewID() string {
	host, _ := os.Hostname()
	host = strings.Trim(unsafeID.ReplaceAllString(host, "-"), "-")
	if len(host) > 32 {
		host = host[:32]
	}
	if host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomSuffix(4))
}

func randomSuffix(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

// renewEvery returns how often a lease of ttl is renewed: three times per
// lease, so that two lost renewals in a row still keep it.
func renewEvery(ttl time.Duration) time.Duration { return ttl / 3 }

// retryEvery returns how soon a failed renewal of a lease of ttl is tried
// again, so that a lease outlives an outage of NATS, such as a cluster
// electing a new leader, that ends well within the lease.
func retryEvery(ttl time.Duration) time.Duration {
	return min(max(ttl/15, 100*time.Millisecond), time.Second)
}
