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
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
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
}

// Worker serves one run. It is not safe for concurrent use.
type Worker struct {
	bus *bus.Bus
	id  string
	run string
	log *slog.Logger
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
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{bus: b, id: id, run: cfg.Run, log: log.With("worker_id", id)}, nil
}

// ID returns the worker's id.
func (w *Worker) ID() string { return w.id }

// Run waits for a run, takes part in it and returns when it ends: when the
// coordinator marks it done, when the coordinator's lease expires, or when
// ctx is done. Its share, if it got one, has then sent its final report.
func (w *Worker) Run(ctx context.Context) error {
	run, err := w.waitForRun(ctx)
	if err != nil {
		return err
	}
	log := w.log.With("run", run.ID)
	log.Info("joining run", "state", run.State, "users", run.Plan.Users)
	p := &participation{worker: w, log: log, run: run, finished: make(map[int]bool)}
	return p.serve(ctx)
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
