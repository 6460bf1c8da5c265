package coordinator

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/bus"
)

// onGrant replies to a worker's request for iterations. A request repeated
// with the same sequence number gets the same reply, so a lost reply
// neither loses iterations nor grants them twice.
func (r *runner) onGrant(msg *nats.Msg) {
	var req bus.GrantRequest
	if err := json.Unmarshal(msg.Data, &req); err != nil || !bus.ValidID(req.Worker) {
		if err == nil {
			err = fmt.Errorf("invalid worker id %q", req.Worker)
		}
		r.rejectMessage("request for iterations", err)
		return
	}
	memo, seen := r.grants[req.Worker]
	switch {
	case seen && req.Seq == memo.seq:
		// The reply was lost, so send the same one again.
	case seen && req.Seq < memo.seq:
		r.log.Warn("ignoring stale request for iterations", "worker_id", req.Worker, "seq", req.Seq)
		return
	default:
		memo = grantMemo{seq: req.Seq}
		s := r.slots[req.Worker]
		if s != nil && !s.departed && r.record.State == bus.RunRunning {
			// Iterations are numbered in the order they are granted. With
			// data in once mode the number is the row an iteration uses.
			// NOTE: iterations granted to a worker that dies are never
			// granted again. So no row is used twice, but the rows of the
			// iterations that it had not run stay unused.
			memo.first = r.granted
			memo.iterations = r.grantSize(s)
			s.granted += memo.iterations
			r.granted += memo.iterations
		}
		r.grants[req.Worker] = memo
	}
	if err := msg.Respond(mustJSON(bus.GrantReply{Iterations: memo.iterations, First: memo.first})); err != nil {
		r.log.Warn("could not reply to a request for iterations", "worker_id", req.Worker, "err", err)
	}
}
