package launch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// DefaultNomadPollInterval is how often the Nomad platform checks the
// allocations of the jobs it dispatched.
const DefaultNomadPollInterval = 5 * time.Second

// nomadQuickExit is the least time a dispatched job must run for its end
// to count as clean. A worker that exits sooner found no free place or
// could not start, and its replacement waits.
const nomadQuickExit = 10 * time.Second

// NomadConfig sets up the Nomad platform. Address, Job and Run are
// required.
type NomadConfig struct {
	// Address is the Nomad HTTP API address, such as
	// http://127.0.0.1:4646. The token (NOMAD_TOKEN), namespace
	// (NOMAD_NAMESPACE), region (NOMAD_REGION) and TLS settings
	// (NOMAD_CACERT and others) come from the environment, as for the
	// nomad command.
	Address string
	// Job is the parameterized job to dispatch, such as
	// deploy/nomad/worker-dispatch-docker.nomad.hcl registers.
	Job string
	// Run is the run id, passed as the dispatch meta key "run".
	Run string
	// Slots is the size of the fleet, passed as the meta key "slots".
	Slots int
	// PollInterval is how often allocations are checked; zero means
	// DefaultNomadPollInterval.
	PollInterval time.Duration
	// Logger receives warnings about failed checks; nil means
	// slog.Default.
	Logger *slog.Logger
}

// Nomad starts workers by dispatching a parameterized batch job, one
// dispatched job per worker, and watches their allocations to learn when
// a worker finished. It is safe for concurrent use.
type Nomad struct {
	client *api.Client
	cfg    NomadConfig
	log    *slog.Logger

	mu         sync.Mutex
	dispatched map[string]time.Time // dispatched job id → when; guarded by mu
}

// NewNomad returns the Nomad platform. It contacts no server.
func NewNomad(cfg NomadConfig) (*Nomad, error) {
	if cfg.Address == "" {
		return nil, errors.New("missing --nomad-addr: give the Nomad HTTP API address, such as http://127.0.0.1:4646")
	}
	if cfg.Job == "" {
		return nil, errors.New("missing --nomad-job: name the parameterized worker job, such as barrage-worker")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultNomadPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	apiCfg := api.DefaultConfig()
	apiCfg.Address = cfg.Address
	client, err := api.NewClient(apiCfg)
	if err != nil {
		return nil, fmt.Errorf("nomad client for %s: %w", cfg.Address, err)
	}
	return &Nomad{client: client, cfg: cfg, log: cfg.Logger, dispatched: make(map[string]time.Time)}, nil
}

// Name returns "nomad".
func (n *Nomad) Name() string { return "nomad" }

// Start dispatches the job once with the run and the fleet size as meta,
// and returns the dispatched job's id.
func (n *Nomad) Start(ctx context.Context) (string, error) {
	meta := map[string]string{"run": n.cfg.Run, "slots": strconv.Itoa(n.cfg.Slots)}
	q := (&api.WriteOptions{}).WithContext(ctx)
	resp, _, err := n.client.Jobs().Dispatch(n.cfg.Job, meta, nil, n.cfg.Run, q)
	if err != nil {
		return "", fmt.Errorf("dispatch nomad job %s: %w", n.cfg.Job, err)
	}
	n.mu.Lock()
	n.dispatched[resp.DispatchedJobID] = time.Now()
	n.mu.Unlock()
	return resp.DispatchedJobID, nil
}

// WatchExits checks the allocations of every dispatched job each poll
// interval and calls exited once for each job that finished: every
// allocation ended (complete, failed or lost) with no replacement
// allocation planned, or the job is gone.
func (n *Nomad) WatchExits(ctx context.Context, exited func(Exit)) {
	ticker := time.NewTicker(n.cfg.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for id, since := range n.snapshot() {
			done, clean, err := n.finished(ctx, id)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Warn("could not check a dispatched job", "job", id, "err", err)
				}
				continue
			}
			if !done {
				continue
			}
			n.mu.Lock()
			delete(n.dispatched, id)
			n.mu.Unlock()
			exited(Exit{Name: id, Clean: clean && time.Since(since) >= nomadQuickExit})
		}
	}
}

// snapshot returns the dispatched jobs that have not finished.
func (n *Nomad) snapshot() map[string]time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	jobs := make(map[string]time.Time, len(n.dispatched))
	for id, t := range n.dispatched {
		jobs[id] = t
	}
	return jobs
}

// finished reports whether the dispatched job id has finished, and
// whether every allocation of it completed successfully.
func (n *Nomad) finished(ctx context.Context, id string) (done, clean bool, err error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	allocs, _, err := n.client.Jobs().Allocations(id, true, q)
	if err != nil {
		var status api.UnexpectedResponseError
		if errors.As(err, &status) && status.StatusCode() == http.StatusNotFound {
			return true, false, nil // stopped and purged by someone
		}
		return false, false, err
	}
	if len(allocs) == 0 {
		return false, false, nil // not placed yet
	}
	clean = true
	for _, a := range allocs {
		switch a.ClientStatus {
		case api.AllocClientStatusComplete:
		case api.AllocClientStatusFailed, api.AllocClientStatusLost:
			clean = false
		default:
			return false, false, nil
		}
		if a.NextAllocation != "" || a.FollowupEvalID != "" {
			return false, false, nil // Nomad reschedules it
		}
	}
	return true, clean, nil
}
