//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/coordinator"
)

// fleet is one Barrage run of real processes: a coordinator with its
// embedded NATS server and the workers started for it.
type fleet struct {
	e           *env
	run         string
	natsURL     string
	summaryPath string
	coordinator *process
	args        []string // the coordinator's command line
}

// startFleet writes plan to a file and starts `coordinator start` on core
// with the embedded NATS server on a free loopback port, no local worker,
// reports every second and the summary written as JSON. It returns once
// the NATS server accepts connections.
func (e *env) startFleet(ctx context.Context, run, plan string, core int, extra ...string) (*fleet, error) {
	planPath := e.scratch(run + ".yaml")
	if err := os.WriteFile(planPath, []byte(plan), 0o644); err != nil {
		return nil, fmt.Errorf("write plan: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	f := &fleet{e: e, run: run, summaryPath: e.scratch(run + "-summary.json")}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	f.natsURL = "nats://" + listen
	f.args = e.coordinatorArgs(planPath, listen, run, f.summaryPath, extra...)
	f.coordinator, err = e.pin.start(ctx, core, nil, f.args...)
	if err != nil {
		return nil, err
	}
	if err := waitPort(ctx, listen, 30*time.Second); err != nil {
		f.coordinator.kill()
		return nil, fmt.Errorf("coordinator: %w; its output:\n%s", err, f.coordinator.tail())
	}
	return f, nil
}

// startWorker starts a worker process on core that joins the fleet's run,
// with GOMAXPROCS set to procs unless it is 0.
func (f *fleet) startWorker(ctx context.Context, core, procs int, id string) (*process, error) {
	var env []string
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	args := []string{f.e.worker, "--nats", f.natsURL, "--run", f.run, "--log-level", "info"}
	if id != "" {
		args = append(args, "--id", id)
	}
	return f.e.pin.start(ctx, core, env, args...)
}

// coordinatorArgs returns the command line of `coordinator start` for
// a fleet: no local worker, reports every second.
func (e *env) coordinatorArgs(planPath, listen, run, summaryPath string, extra ...string) []string {
	return append([]string{e.coordinator, "start", planPath,
		"--local-workers", "0", "--listen", listen, "--run", run,
		"--report-interval", "1s", "--out", summaryPath, "--log-level", "warn"}, extra...)
}

// fleetCommands returns the command lines of a fleet's coordinator on
// targetCore and of a worker on core with GOMAXPROCS=procs, for the
// commands shown with a figure.
func (e *env) fleetCommands(run string, core, procs int, extra ...string) []string {
	coord := e.coordinatorArgs("PLAN.yaml", "127.0.0.1:PORT", run, "summary.json", extra...)
	worker := []string{e.worker, "--nats", "nats://127.0.0.1:PORT", "--run", run}
	prefix := ""
	if procs > 0 {
		prefix = "GOMAXPROCS=" + strconv.Itoa(procs) + " "
	}
	return []string{
		shellJoin(e.display(e.pin.command(targetCore, coord...))),
		prefix + shellJoin(e.display(e.pin.command(core, worker...))),
	}
}

// wait waits up to timeout for the coordinator to exit and returns the
// summary it wrote. The coordinator may exit with 1, as it does when a
// run ends early, and the summary's problem then gives the reason.
func (f *fleet) wait(timeout time.Duration) (*coordinator.Summary, error) {
	err := f.coordinator.wait(timeout)
	if errors.Is(err, errStillRunning) {
		return nil, err
	}
	data, readErr := os.ReadFile(f.summaryPath)
	if readErr != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("coordinator wrote no summary: %w; its output:\n%s", readErr, f.coordinator.tail())
	}
	var s coordinator.Summary
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read summary %s: %w", f.summaryPath, err)
	}
	return &s, nil
}

// stop sends SIGINT to the coordinator, which stops the run early as on
// Ctrl-C.
func (f *fleet) stop() { f.coordinator.signal(syscall.SIGINT) }

// watch subscribes to the fleet's statistics subject stats.<run>.<kind>
// and keeps each message with the time it arrived.
func (f *fleet) watch(ctx context.Context, kind string) (*statsWatch, error) {
	nc, err := nats.Connect(f.natsURL, nats.Name("barrage-bench"))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", f.natsURL, err)
	}
	w := &statsWatch{nc: nc, arrived: make(chan struct{}, 1)}
	_, err = nc.Subscribe("stats."+f.run+"."+kind, func(m *nats.Msg) {
		w.mu.Lock()
		w.messages = append(w.messages, statsMessage{at: time.Now(), data: m.Data})
		w.mu.Unlock()
		select {
		case w.arrived <- struct{}{}:
		default:
		}
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to stats of %s: %w", f.run, err)
	}
	return w, nil
}

// statsWatch records the messages of one statistics subject.
type statsWatch struct {
	nc       *nats.Conn
	arrived  chan struct{}
	mu       sync.Mutex
	messages []statsMessage
}

type statsMessage struct {
	at   time.Time
	data []byte
}

// close ends the subscription.
func (w *statsWatch) close() { w.nc.Close() }

// waitFor waits up to timeout for a message, arrived at or after since,
// that decodes into v and for which match returns true. It returns when
// that message arrived.
func waitFor[T any](ctx context.Context, w *statsWatch, since time.Time, timeout time.Duration, match func(T) bool) (time.Time, T, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	next := 0
	var zero T
	for {
		w.mu.Lock()
		pending := w.messages[next:]
		next = len(w.messages)
		w.mu.Unlock()
		for _, m := range pending {
			if m.at.Before(since) {
				continue
			}
			var v T
			if json.Unmarshal(m.data, &v) == nil && match(v) {
				return m.at, v, nil
			}
		}
		select {
		case <-w.arrived:
		case <-deadline.C:
			return time.Time{}, zero, fmt.Errorf("no matching statistics within %s", timeout)
		case <-ctx.Done():
			return time.Time{}, zero, ctx.Err()
		}
	}
}
