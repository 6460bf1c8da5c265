package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
)

// slot is the share of one worker. Its index is never reused, so a worker
// that comes back after its lease expired cannot take up its old share.
type slot struct {
	index   int
	worker  string
	share   plan.Share // as last written
	written bool
	// writtenAt is when the share was first written.
	writtenAt time.Time
	departed  bool  // the worker's presence key was deleted or expired
	granted   int64 // iterations granted to the worker
}

func (r *runner) onPresence(entry jetstream.KeyValueEntry) {
	if entry == nil {
		return
	}
	id := lastToken(entry.Key())
	if entry.Operation() != jetstream.KeyValuePut {
		last, ok := r.present[id]
		if !ok {
			return
		}
		delete(r.present, id)
		s := r.slots[id]
		r.notifyDeparture(entry, last, s)
		if s == nil {
			r.log.Info("worker left", "worker_id", id)
			return
		}
		s.departed = true
		if w := r.agg.workers[id]; w != nil {
			w.users = 0
			w.departed = true
		}
		if r.agg.finals[s.index] {
			r.log.Info("worker left", "worker_id", id, "share", s.index)
		} else {
			r.log.Warn("worker left before its final report; moving its users to the other workers",
				"worker_id", id, "share", s.index)
		}
		r.scheduleRebalance()
		return
	}

	var p bus.Presence
	if err := json.Unmarshal(entry.Value(), &p); err != nil || p.ID != id {
		if err == nil {
			err = fmt.Errorf("presence at %s names worker %q", entry.Key(), p.ID)
		}
		r.rejectMessage("worker presence", err)
		return
	}
	if p.State == bus.WorkerRejected {
		r.onRejection(p)
		return
	}
	old, known := r.present[id]
	r.present[id] = p
	if p.State == bus.WorkerFailed && old.State != bus.WorkerFailed {
		r.log.Error("worker could not start its share", "worker_id", id, "err", p.Error)
		if r.startFailure == "" {
			r.startFailure = "worker " + id + ": " + p.Error
		}
	}
	if known {
		return
	}
	if r.slots[id] != nil {
		// A worker's id comes back only if its process rejoined with the
		// same id; its old share stays closed.
		r.log.Warn("worker rejoined under an id already used; ignoring it", "worker_id", id)
		return
	}
	r.log.Info("worker joined", "worker_id", id, "host", p.Host)
	if r.record.State == bus.RunRunning {
		r.scheduleRebalance()
	}
}

// checkRunnable stops a running run once no worker is present and one
// left because it could not start its share, such as a worker without
// the plan's Go task. Otherwise the run would wait for ever for its
// iterations, or run its duration without load.
func (r *runner) checkRunnable(ctx context.Context) {
	if r.record.State != bus.RunRunning || len(r.present) > 0 || r.startFailure == "" {
		return
	}
	r.unrunnable = "no worker could start its share: " + r.startFailure
	r.beginStopping(ctx, "no worker could start its share")
}

func (r *runner) scheduleRebalance() {
	if r.rebalance == nil && r.record.State == bus.RunRunning {
		r.rebalance = time.After(rebalanceDelay)
	}
}

// rebalanceShares splits the plan over the workers present and writes the
// shares that changed. Each worker moves to its new user count at a part of
// the fleet's spawn rate. The workers that gain users share the rate in
// proportion to their gains, and those that lose users in proportion to
// their losses. So the fleet starts and stops at most that many users per
// second each way. The fleet's rate is the plan's spawn_rate, or with
// stages the rate of stageRebalanceRate.
func (r *runner) rebalanceShares(ctx context.Context) {
	remaining, ok := r.remaining()
	if !ok {
		return
	}
	live := r.liveSlots()
	if len(live) == 0 {
		return
	}
	shares := r.splitUsers(len(live))
	fleetRate := r.cfg.Plan.SpawnRate
	if r.userStages() {
		fleetRate = r.stageRebalanceRate()
	}

	current := make([]int, len(live))
	gain, loss := 0, 0
	for i, s := range live {
		current[i] = r.currentUsers(s)
		if d := shares[i].Users - current[i]; d > 0 {
			gain += d
		} else {
			loss -= d
		}
	}
	for i := range live {
		switch d := shares[i].Users - current[i]; {
		case d > 0:
			shares[i].SpawnRate = fleetRate * float64(d) / float64(gain)
		case d < 0:
			shares[i].SpawnRate = fleetRate * float64(-d) / float64(loss)
		}
	}
	r.writeShares(ctx, live, shares, remaining)
}

// remaining returns how long the run has left, or 0 when only iterations
// bound it. It returns false when the plan's duration has passed.
func (r *runner) remaining() (time.Duration, bool) {
	if r.cfg.Plan.Duration <= 0 {
		return 0, true
	}
	left := r.cfg.Plan.Duration - time.Since(r.started)
	return left, left > 0
}

// writeShares writes the shares of live, in the same order, that differ
// from what each worker was last given. remaining is the run time left.
func (r *runner) writeShares(ctx context.Context, live []*slot, shares []plan.Share, remaining time.Duration) {
	users := 0
	for i, s := range live {
		share := shares[i]
		share.Index = s.index
		share.Iterations = 0 // iterations are granted on request
		users += share.Users
		if s.written && share == s.share {
			continue
		}
		a := bus.Assignment{Share: share, Worker: s.worker, Duration: remaining}
		if _, err := r.bus.KV.Put(ctx, bus.ShareKey(r.cfg.RunID, s.worker), mustJSON(a)); err != nil {
			r.log.Error("could not write a share; will retry", "worker_id", s.worker, "share", s.index, "err", err)
			r.scheduleRebalance()
			continue
		}
		if !s.written {
			s.writtenAt = time.Now()
		}
		s.share, s.written = share, true
	}
	r.log.Info("shares assigned", "workers", len(live), "users", users)
}

// liveSlots returns the slots of the workers present, creating slots for
// newcomers, in the order of their indexes.
func (r *runner) liveSlots() []*slot {
	ids := make([]string, 0, len(r.present))
	for id := range r.present {
		if r.slots[id] == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.slots[id] = &slot{index: r.next, worker: id}
		r.next++
	}

	live := make([]*slot, 0, len(r.present))
	for id := range r.present {
		if s := r.slots[id]; !s.departed {
			live = append(live, s)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].index < live[j].index })
	return live
}

// currentUsers returns how many users a worker runs, from its last report.
// A worker that has not reported yet started from none, so its count is
// estimated from its spawn rate and the time since its share was written.
func (r *runner) currentUsers(s *slot) int {
	if w := r.agg.workers[s.worker]; w != nil && !w.final {
		return w.users
	}
	if !s.written {
		return 0
	}
	ramped := 1 + int(s.share.SpawnRate*time.Since(s.writtenAt).Seconds())
	return min(s.share.Users, ramped)
}

// liveWorkers returns how many workers are present with a share of users.
func (r *runner) liveWorkers() int {
	n := 0
	for _, s := range r.slots {
		if !s.departed && s.share.Users > 0 {
			n++
		}
	}
	return max(n, 1)
}

// grantMemo is the newest grant to a worker, repeated if asked again.
type grantMemo struct {
	seq        uint64
	iterations int64
	first      int64 // number of the first iteration granted
}

// firstGrant bounds a grant to a worker that has not reported yet.
const firstGrant = 1000

// grantSize returns how many iterations to grant a worker: a quarter of its
// part of what is left, at most about two report intervals of its work, so
// that a worker that dies takes few iterations with it.
func (r *runner) grantSize(s *slot) int64 {
	left := r.cfg.Plan.Iterations - r.granted
	if left <= 0 {
		return 0
	}
	n := int64(math.Ceil(float64(left) / float64(4*r.liveWorkers())))
	limit := int64(firstGrant)
	if w := r.agg.workers[s.worker]; w != nil && w.requests > 0 {
		limit = max(100, int64(2*w.requests))
	}
	return max(1, min(n, limit, left))
}

// maxRejections bounds how many rejections the coordinator keeps, so that
// a flood of rejected presences cannot grow its memory without limit.
const maxRejections = 100

// onRejection records a worker that rejected the run. The worker takes no
// share and does not count towards workers.min.
func (r *runner) onRejection(p bus.Presence) {
	if _, seen := r.rejections[p.ID]; seen || len(r.rejections) >= maxRejections {
		return
	}
	reason := p.Reason
	if len(reason) > 500 {
		reason = reason[:500] + "..."
	}
	r.rejections[p.ID] = reason
	r.log.Error("worker rejected the run", "worker_id", p.ID, "host", p.Host, "reason", reason)
}

// rejectionText returns "; " and the rejections for an error message, or
// "" when no worker rejected the run.
func (r *runner) rejectionText() string {
	list := r.rejectionList()
	if len(list) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d worker(s) rejected the run, %s: %s", len(list), list[0].Worker, list[0].Reason)
}

// rejectionList returns the rejections sorted by worker id.
func (r *runner) rejectionList() []Rejection {
	list := make([]Rejection, 0, len(r.rejections))
	for id, reason := range r.rejections {
		list = append(list, Rejection{Worker: id, Reason: reason})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Worker < list[j].Worker })
	return list
}
