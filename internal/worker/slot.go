package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
)

// MaxSlots is the largest fleet a launcher may start for one run.
const MaxSlots = 10000

// DefaultHandoverMargin is the time a worker with a deadline keeps after
// the plan's graceful_stop to send its final report and leave the run.
const DefaultHandoverMargin = time.Second

// minShareTime is the least time a worker with a deadline must have for
// load before its handover; with less it does not join.
const minShareTime = time.Second

// ErrNoFreeSlot is returned by Run when every place of a launched fleet is
// held by another worker. The worker sent no request.
var ErrNoFreeSlot = errors.New("no free slot: every place of the launched fleet is held")

// ErrRunOver is returned by Run for a launched worker whose run has ended
// or was never announced. The worker sent no request.
var ErrRunOver = errors.New("the run has ended or was never announced")

// ErrHandedOver is returned by Run when a worker with a deadline stopped
// its share, sent its final report and left the run before the deadline,
// so that the coordinator moves its users to other workers.
var ErrHandedOver = errors.New("handed the share back before the deadline")

// ErrDeadlineTooClose is returned by Run when a worker's deadline leaves
// too little time to run a share and still hand it back in time.
var ErrDeadlineTooClose = errors.New("deadline too close")

// ErrSlotLost is returned by Run when another worker took this worker's
// place in the launched fleet, because its lease expired while this
// process was paused or cut off from NATS.
var ErrSlotLost = errors.New("slot lost: this worker's place in the fleet expired and was taken")

// currentRun reads the run record once, for a launched worker that must
// not wait for a run.
func (w *Worker) currentRun(ctx context.Context) (*bus.Run, error) {
	entry, err := w.bus.KV.Get(ctx, bus.RunKey(w.run))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("run %s: %w", w.run, ErrRunOver)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", w.run, err)
	}
	run, err := decodeRun(entry.Value())
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", w.run, err)
	}
	if run.State != bus.RunWaiting && run.State != bus.RunRunning {
		return nil, fmt.Errorf("run %s is %s: %w", w.run, run.State, ErrRunOver)
	}
	return run, nil
}

// handoverTime returns when a worker with a deadline stops its share: early
// enough that its requests end within the plan's graceful_stop and its
// final report goes out within the margin.
func (w *Worker) handoverTime(run *bus.Run) (time.Time, error) {
	reserve := run.Plan.GracefulStop + w.margin
	handover := w.deadline.Add(-reserve)
	if left := time.Until(handover); left < minShareTime {
		return time.Time{}, fmt.Errorf("%w: %s left before the deadline, and the worker needs graceful_stop %s + margin %s + at least %s of load; raise the function timeout or lower graceful_stop",
			ErrDeadlineTooClose, time.Until(w.deadline).Round(time.Millisecond), run.Plan.GracefulStop, w.margin, minShareTime)
	}
	return handover, nil
}

// claimSlot leases a free place of the launched fleet. It tries the places
// that no one holds in random order, so that workers starting together
// seldom race for the same one, and returns ErrNoFreeSlot when none is
// left.
func (w *Worker) claimSlot(ctx context.Context, run *bus.Run) (*bus.Lease, error) {
	held, err := w.heldSlots(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	free := make([]int, 0, w.slots)
	for n := range w.slots {
		if !held[n] {
			free = append(free, n)
		}
	}
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	for _, n := range free {
		lease, err := w.bus.Acquire(ctx, bus.SlotKey(run.ID, n), []byte(w.id), run.Lease)
		if errors.Is(err, bus.ErrTaken) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("claim a slot of run %s: %w", run.ID, err)
		}
		return lease, nil
	}
	return nil, fmt.Errorf("run %s, %d slots: %w", run.ID, w.slots, ErrNoFreeSlot)
}

// heldSlots returns the places of the fleet whose keys exist.
func (w *Worker) heldSlots(ctx context.Context, run string) (map[int]bool, error) {
	lister, err := w.bus.KV.ListKeysFiltered(ctx, "slots."+run+".*")
	if err != nil {
		return nil, fmt.Errorf("list the slots of run %s: %w", run, err)
	}
	held := make(map[int]bool)
	for key := range lister.Keys() {
		if n, err := strconv.Atoi(lastToken(key)); err == nil {
			held[n] = true
		}
	}
	return held, nil
}

func lastToken(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}
