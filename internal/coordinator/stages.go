package coordinator

import (
	"context"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
)

// stageInterval is how often the coordinator moves the fleet's target
// users along the plan's stages. Between two updates each worker keeps
// moving at its share's spawn rate, so the user count follows the slope
// without waiting for the next update.
const stageInterval = 250 * time.Millisecond

// minStageRate is the lowest spawn rate of a share, in users per second,
// so that every share has a rate of its own rather than falling back to
// the plan's spawn_rate, which stages leave unused.
const minStageRate = 0.1

// stageState is the progress of a run through the plan's stages.
type stageState struct {
	ticker *time.Ticker // nil without stages or once the run stops
	target int          // fleet-wide target users of the last split
}

// userStages reports whether the plan's stages move the fleet's users.
// Rate stages need no updates from the coordinator: each worker follows
// them from the plan and its share's part of the rate.
func (r *runner) userStages() bool {
	return len(r.cfg.Plan.Stages) > 0 && !r.cfg.Plan.Open()
}

// startStages starts moving the fleet along the plan's stages, if it has
// user stages.
func (r *runner) startStages() {
	if r.userStages() && r.stages.ticker == nil {
		r.stages.ticker = time.NewTicker(stageInterval)
	}
}

// stopStages stops the stage updates. It is safe to call more than once.
func (r *runner) stopStages() {
	if r.stages.ticker != nil {
		r.stages.ticker.Stop()
		r.stages.ticker = nil
	}
}

// stageTick returns the channel of the stage updates, or nil when there
// are none, so that a select never picks it.
func (r *runner) stageTick() <-chan time.Time {
	if r.stages.ticker == nil {
		return nil
	}
	return r.stages.ticker.C
}

// stepStages splits the stage target at the current time over the workers
// present, if it changed since the last split, and writes the shares that
// changed.
func (r *runner) stepStages(ctx context.Context) {
	if r.record.State != bus.RunRunning {
		r.stopStages()
		return
	}
	target, _ := r.cfg.Plan.StageTarget(time.Since(r.started))
	if target == r.stages.target {
		return
	}
	remaining, ok := r.remaining()
	if !ok {
		return
	}
	live := r.liveSlots()
	if len(live) == 0 {
		return
	}
	r.writeShares(ctx, live, r.splitUsers(len(live)), remaining)
}

// splitUsers splits the plan into n shares. With stages, the shares add up
// to the stage target at the current time instead of the plan's users, and
// each share's spawn rate comes from stageShareRate.
func (r *runner) splitUsers(n int) []plan.Share {
	if !r.userStages() {
		return r.cfg.Plan.Split(n)
	}
	target, slope := r.cfg.Plan.StageTarget(time.Since(r.started))
	r.stages.target = target

	p := *r.cfg.Plan
	p.Users = target
	p.SpawnRate = 0
	shares := p.Split(n)
	for i := range shares {
		shares[i].SpawnRate = r.stageShareRate(slope, shares[i].Users, target, n)
	}
	return shares
}

// stageShareRate returns the spawn rate of a share, in users per second.
// The share's part of the fleet is users/target, or 1/n when the target is
// 0. The rate is that part of the stage's slope, or on a flat stage that
// part of the plan's users, and at least minStageRate.
//
// A flat stage gets a high rate so that a worker that is behind its share,
// for example one that just joined, catches up at once.
func (r *runner) stageShareRate(slope float64, users, target, n int) float64 {
	part := 1 / float64(n)
	if target > 0 {
		part = float64(users) / float64(target)
	}
	if slope == 0 {
		slope = float64(r.cfg.Plan.Users)
	}
	return max(slope*part, minStageRate)
}

// stageRebalanceRate returns the fleet's spawn rate for a rebalance after
// a worker joined or left a run with stages. It is the current stage's
// slope or the plan's users per second, whichever is higher. So the
// workers take over moved users within about a second, as they would with
// the default spawn_rate.
//
// NOTE: the next stage update on a slope sets each share's rate back to
// its part of the slope, so a worker that joins during a slope catches up
// on its share only at that rate.
func (r *runner) stageRebalanceRate() float64 {
	_, slope := r.cfg.Plan.StageTarget(time.Since(r.started))
	return max(slope, float64(r.cfg.Plan.Users))
}
