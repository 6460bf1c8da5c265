package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
)

// ErrCoordinatorLost is returned by Run when the coordinator's lease on the
// run expired or its record stopped being renewed: the worker stopped its
// load because no coordinator collects it.
var ErrCoordinatorLost = errors.New("coordinator lost: its lease on the run expired")

// ErrPresenceLost is returned by Run when the worker's own lease expired,
// for example while the process was paused: the coordinator has moved its
// users to other workers, so it must not run its share any longer.
var ErrPresenceLost = errors.New("presence lost: this worker's lease expired and its share was moved")

// participation is one worker's part in one run: its presence, the share
// it holds and the watchers that tell it what the coordinator decided.
type participation struct {
	worker   *Worker
	log      *slog.Logger
	run      *bus.Run
	runSeen  time.Time // when the run record was last written
	presence bus.Presence
	lease    *bus.Lease
	assigned *bus.Assignment // assignment not yet applied
	share    *shareRun       // share running now, or nil
	finished map[int]bool    // indexes of shares that ran to their end
	failed   error           // the reason the assigned share could not start

	slot     *bus.Lease // the place held in a launched fleet, or nil
	handover time.Time  // when a worker with a deadline stops its share, or zero
	// renewFailed is set when the last renewal of the presence failed
	// without losing the lease, so the next one comes soon.
	renewFailed bool
}

func (p *participation) serve(ctx context.Context) error {
	b := p.worker.bus
	host, _ := os.Hostname()
	p.runSeen = time.Now()
	p.presence = bus.Presence{ID: p.worker.id, Host: host, PID: os.Getpid(), State: bus.WorkerReady, Share: -1}
	lease, err := b.Acquire(ctx, bus.WorkerKey(p.run.ID, p.worker.id), mustJSON(p.presence), p.run.Lease)
	if err != nil {
		return fmt.Errorf("join run %s: %w", p.run.ID, err)
	}
	p.lease = lease
	defer p.leave()

	runs, err := b.Watch(ctx, bus.RunKey(p.run.ID))
	if err != nil {
		return fmt.Errorf("watch run %s: %w", p.run.ID, err)
	}
	// Stopping a watcher waits for NATS, which may be gone with the
	// coordinator, so the worker does not wait for it.
	defer func() { go runs.Stop() }()
	shares, err := b.Watch(ctx, bus.ShareKey(p.run.ID, p.worker.id))
	if err != nil {
		return fmt.Errorf("watch the share of run %s: %w", p.run.ID, err)
	}
	defer func() { go shares.Stop() }()

	renew := time.NewTimer(renewEvery(p.run.Lease))
	defer renew.Stop()
	for {
		var shareDone <-chan struct{}
		if p.share != nil {
			shareDone = p.share.done
		}
		select {
		case <-ctx.Done():
			p.stopShare(p.stopPatience())
			return ctx.Err()
		case <-renew.C:
			if err := p.checkLeases(ctx); err != nil {
				p.stopShare(abandonPatience)
				return err
			}
			if p.renewFailed {
				renew.Reset(retryEvery(p.run.Lease))
			} else {
				renew.Reset(renewEvery(p.run.Lease))
			}
		case entry := <-runs.Updates():
			if done, err := p.onRun(ctx, entry); done {
				return err
			}
		case entry := <-shares.Updates():
			p.onShare(ctx, entry)
		case <-shareDone:
			p.finished[p.share.index] = true
			p.share = nil
			p.setState(ctx, bus.WorkerDone, -1)
		}
		if p.failed != nil {
			return p.failed
		}
	}
}

// checkLeases renews the worker's presence and checks that the coordinator
// still renews the run. It returns the error Run ends with when either
// lease is gone.
func (p *participation) checkLeases(ctx context.Context) error {
	// Without NATS a call would wait for the client's default timeout;
	// half a lease keeps the coordinator check below on time.
	ctx, cancel := context.WithTimeout(ctx, p.run.Lease/2)
	defer cancel()
	if err := p.renewSlot(ctx); err != nil {
		return err
	}
	err := p.lease.Set(ctx, mustJSON(p.presence))
	if errors.Is(err, bus.ErrLeaseLost) {
		p.log.Error("this worker's lease expired and its share was moved; stopping load")
		return ErrPresenceLost
	}
	p.renewFailed = err != nil
	if err != nil {
		p.log.Warn("could not renew presence", "err", err)
	}

	if since := time.Since(p.runSeen); since > p.run.Lease {
		// The watcher may only be behind, after a pause of this process:
		// the record still exists only if the coordinator renewed it.
		entry, err := p.worker.bus.KV.Get(ctx, bus.RunKey(p.run.ID))
		if err == nil && entry.Operation() == jetstream.KeyValuePut {
			// The record was written at most one lease ago, or it would
			// have expired. Its time comes from the server's clock, so it
			// counts only when it is not ahead of this one.
			p.runSeen = time.Now()
			if written := entry.Created(); written.Before(p.runSeen) {
				p.runSeen = written
			}
			if p.share != nil {
				p.share.coordinatorSeen(p.runSeen.Add(p.run.Lease))
			}
			return nil
		}
		p.log.Error("the coordinator has not renewed the run for longer than its lease; stopping load", "since", since.Round(time.Millisecond))
		return ErrCoordinatorLost
	}
	return nil
}

// onRun follows the run record. It reports true when the worker is done
// with the run, with the error Run should return.
func (p *participation) onRun(ctx context.Context, entry jetstream.KeyValueEntry) (bool, error) {
	if entry == nil {
		return false, nil
	}
	if entry.Operation() != jetstream.KeyValuePut {
		p.log.Error("the coordinator's lease on the run expired; stopping load")
		p.stopShare(abandonPatience)
		return true, ErrCoordinatorLost
	}
	run, err := decodeRun(entry.Value())
	if err != nil {
		p.log.Warn("ignoring invalid run record", "err", err)
		return false, nil
	}
	p.run = run
	p.runSeen = time.Now()
	if p.share != nil {
		p.share.coordinatorSeen(p.runSeen.Add(run.Lease))
	}
	switch run.State {
	case bus.RunRunning:
		p.apply(ctx)
	case bus.RunStopping:
		// The share finishes on its own; the loop keeps renewing the
		// presence meanwhile, however long the last requests take.
		if p.share != nil {
			p.share.stop(finalReportPatience)
		}
	case bus.RunDone:
		took := p.share != nil || len(p.finished) > 0
		p.stopShare(finalReportPatience)
		if took {
			p.log.Info("run done")
		} else {
			p.log.Info("run done before this worker got a share")
		}
		return true, nil
	}
	return false, nil
}

// onShare records the share assigned to this worker and applies it once
// the run is running.
func (p *participation) onShare(ctx context.Context, entry jetstream.KeyValueEntry) {
	if entry == nil {
		return
	}
	if entry.Operation() != jetstream.KeyValuePut {
		if p.share != nil {
			p.log.Info("the coordinator took the share back")
			p.stopShare(finalReportPatience)
		}
		p.assigned = nil
		return
	}
	var a bus.Assignment
	if err := json.Unmarshal(entry.Value(), &a); err != nil || a.Worker != p.worker.id {
		p.log.Warn("ignoring invalid share", "key", entry.Key(), "err", err)
		return
	}
	p.assigned = &a
	p.apply(ctx)
}

// apply starts the assigned share, or moves the running one to it.
func (p *participation) apply(ctx context.Context) {
	if p.assigned == nil || p.run.State != bus.RunRunning {
		return
	}
	a := *p.assigned
	p.assigned = nil
	if p.share != nil && p.share.index == a.Share.Index {
		p.share.update(a)
		return
	}
	if p.finished[a.Share.Index] {
		return // a share runs once; later changes to it come too late
	}
	p.stopShare(finalReportPatience)
	share, err := p.startShare(ctx, a)
	if err != nil {
		// Leaving lets the coordinator give the users to workers that can
		// run them, such as workers built with the plan's Go tasks.
		// The failed state gives the coordinator the error before the
		// worker leaves, so that it can end a run that no worker can run.
		p.log.Error("could not start share; leaving the run", "share", a.Share.Index, "err", err)
		p.failed = fmt.Errorf("start share %d: %w", a.Share.Index, err)
		p.presence.Error = err.Error()
		p.setState(ctx, bus.WorkerFailed, -1)
		return
	}
	p.share = share
	p.setState(ctx, bus.WorkerRunning, a.Share.Index)
}

// stopShare stops the running share and waits until its final report was
// sent or patience ran out.
func (p *participation) stopShare(patience time.Duration) {
	if p.share == nil {
		return
	}
	p.share.stop(patience)
	<-p.share.done
	p.finished[p.share.index] = true
	p.share = nil
}

func (p *participation) setState(ctx context.Context, state bus.WorkerState, share int) {
	p.presence.State = state
	p.presence.Share = share
	if err := p.lease.Set(ctx, mustJSON(p.presence)); err != nil {
		p.log.Warn("could not update presence", "state", state, "err", err)
	}
}

// leave removes the worker's presence so that the coordinator notices at
// once that it left, instead of after its lease.
func (p *participation) leave() {
	// Short: when NATS is unreachable the presence expires by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if p.failed == nil && len(p.finished) > 0 && p.presence.State != bus.WorkerDone {
		// Tells the coordinator that this worker leaves because its share
		// ended, not because it failed.
		p.setState(ctx, bus.WorkerDone, -1)
	}
	p.releaseSlot(ctx)
	if err := p.lease.Release(ctx); err != nil {
		p.log.Warn("could not remove presence", "err", err)
	}
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only called on types that always marshal
	}
	return data
}
