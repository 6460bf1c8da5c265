package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
)

// ErrCoordinatorLost is returned by Run when the coordinator's lease on the
// run expired: the worker stopped its load because nobody collects it.
var ErrCoordinatorLost = errors.New("coordinator lost: its lease on the run expired")

// participation is one worker's part in one run: its presence, the share
// it holds and the watchers that tell it what the coordinator decided.
type participation struct {
	worker   *Worker
	log      *slog.Logger
	run      *bus.Run
	presence bus.Presence
	lease    *bus.Lease
	assigned *bus.Assignment // share assigned to this worker, not yet started
	share    *shareRun       // share running now, or nil
}

func (p *participation) serve(ctx context.Context) error {
	b := p.worker.bus
	host, _ := os.Hostname()
	p.presence = bus.Presence{ID: p.worker.id, Host: host, PID: os.Getpid(), State: bus.WorkerReady, Share: -1}
	lease, err := b.Acquire(ctx, bus.WorkerKey(p.run.ID, p.worker.id), mustJSON(p.presence), p.run.Lease)
	if err != nil {
		return fmt.Errorf("join run %s: %w", p.run.ID, err)
	}
	p.lease = lease
	defer p.leave()

	runs, err := b.KV.Watch(ctx, bus.RunKey(p.run.ID))
	if err != nil {
		return fmt.Errorf("watch run %s: %w", p.run.ID, err)
	}
	defer runs.Stop()
	shares, err := b.KV.Watch(ctx, bus.SharesPattern(p.run.ID))
	if err != nil {
		return fmt.Errorf("watch shares of run %s: %w", p.run.ID, err)
	}
	defer shares.Stop()

	renew := newTicker(renewEvery(p.run.Lease))
	defer renew.Stop()
	for {
		var shareDone <-chan struct{}
		if p.share != nil {
			shareDone = p.share.done
		}
		select {
		case <-ctx.Done():
			p.stopShare()
			return ctx.Err()
		case <-renew.C:
			p.renewPresence(ctx)
		case entry := <-runs.Updates():
			if done, err := p.onRun(ctx, entry); done {
				return err
			}
		case entry := <-shares.Updates():
			p.onShare(ctx, entry)
		case <-shareDone:
			p.share = nil
			p.setState(ctx, bus.WorkerDone, -1)
		}
	}
}

// onRun follows the run record. It reports true when the worker is done
// with the run, with the error Run should return.
func (p *participation) onRun(ctx context.Context, entry jetstream.KeyValueEntry) (bool, error) {
	if entry == nil {
		return false, nil
	}
	if entry.Operation() != jetstream.KeyValuePut {
		p.log.Error("the coordinator's lease on the run expired; stopping load")
		p.stopShare()
		return true, ErrCoordinatorLost
	}
	run, err := decodeRun(entry.Value())
	if err != nil {
		p.log.Warn("ignoring invalid run record", "err", err)
		return false, nil
	}
	p.run = run
	switch run.State {
	case bus.RunRunning:
		p.startAssigned(ctx)
	case bus.RunStopping:
		p.stopShare()
	case bus.RunDone:
		p.stopShare()
		p.log.Info("run done")
		return true, nil
	}
	return false, nil
}

// onShare records a share assigned to this worker and starts it once the
// run is running.
func (p *participation) onShare(ctx context.Context, entry jetstream.KeyValueEntry) {
	if entry == nil || entry.Operation() != jetstream.KeyValuePut {
		return
	}
	var a bus.Assignment
	if err := json.Unmarshal(entry.Value(), &a); err != nil {
		p.log.Warn("ignoring invalid share", "key", entry.Key(), "err", err)
		return
	}
	if a.Worker != p.worker.id {
		return
	}
	p.assigned = &a
	p.startAssigned(ctx)
}

func (p *participation) startAssigned(ctx context.Context) {
	if p.assigned == nil || p.share != nil || p.run.State != bus.RunRunning {
		return
	}
	a := *p.assigned
	p.assigned = nil
	share, err := p.startShare(ctx, a)
	if err != nil {
		p.log.Error("could not start share", "share", a.Share.Index, "err", err)
		return
	}
	p.share = share
	p.setState(ctx, bus.WorkerRunning, a.Share.Index)
}

// stopShare stops the running share and waits for its final report.
func (p *participation) stopShare() {
	if p.share == nil {
		return
	}
	p.share.stop()
	<-p.share.done
	p.share = nil
}

func (p *participation) setState(ctx context.Context, state bus.WorkerState, share int) {
	p.presence.State = state
	p.presence.Share = share
	p.renewPresence(ctx)
}

func (p *participation) renewPresence(ctx context.Context) {
	err := p.lease.Set(ctx, mustJSON(p.presence))
	if errors.Is(err, bus.ErrLeaseLost) {
		// The key expired, for example while NATS was unreachable: join again.
		lease, err := p.worker.bus.Acquire(ctx, p.lease.Key(), mustJSON(p.presence), p.run.Lease)
		if err != nil {
			p.log.Warn("could not renew presence", "err", err)
			return
		}
		p.lease = lease
		return
	}
	if err != nil {
		p.log.Warn("could not renew presence", "err", err)
	}
}

// leave removes the worker's presence so that the coordinator sees it go
// at once instead of after its lease.
func (p *participation) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), p.run.Lease)
	defer cancel()
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
