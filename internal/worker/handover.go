package worker

import (
	"context"
	"errors"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
)

// renewSlot renews the place a launched worker holds in its fleet. It runs
// before the presence is renewed, so that after a crash the place expires
// before the coordinator notices the departure and launches a replacement,
// which then finds the place free.
func (p *participation) renewSlot(ctx context.Context) error {
	if p.slot == nil {
		return nil
	}
	err := p.slot.Renew(ctx)
	if errors.Is(err, bus.ErrLeaseLost) {
		p.log.Error("this worker's place in the launched fleet expired and was taken; stopping load")
		return ErrSlotLost
	}
	if err != nil {
		p.log.Warn("could not renew the slot", "err", err)
	}
	return nil
}

// releaseSlot frees the place a launched worker holds. It runs before the
// presence is deleted: the coordinator launches a replacement once the
// presence is gone, and the replacement must find the place free.
func (p *participation) releaseSlot(ctx context.Context) {
	if p.slot == nil {
		return
	}
	if err := p.slot.Release(ctx); err != nil {
		p.log.Warn("could not release the slot", "err", err)
	}
}

// stopPatience returns how long a share stopped by ctx may try to deliver
// its final report: signalPatience, cut to the time left before the
// worker's deadline when it has one.
func (p *participation) stopPatience() time.Duration {
	deadline := p.worker.deadline
	if deadline.IsZero() {
		return signalPatience
	}
	// The margin also covers leaving the run, which needs a moment.
	left := time.Until(deadline) - p.worker.margin/2
	return max(0, min(signalPatience, left))
}

// shareDuration returns how long a share assigned to run for d (0 for the
// plan's duration) may run on this worker: until the handover at most.
// The engine then has its end in advance and ends its requests within the
// plan's graceful_stop after it.
func (p *participation) shareDuration(d time.Duration) time.Duration {
	if p.handover.IsZero() {
		return d
	}
	left := max(time.Millisecond, time.Until(p.handover))
	if d <= 0 {
		return left
	}
	return min(d, left)
}
