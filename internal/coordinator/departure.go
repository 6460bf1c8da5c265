package coordinator

import (
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
)

// Departure is a worker that left a run before its end.
type Departure struct {
	// Worker is the worker's id.
	Worker string
	// Share is the index of the share the worker held, or -1 when it held
	// none.
	Share int
	// Clean reports whether the worker left on purpose after its share
	// ended, as a worker does that hands its share back before a deadline.
	// It is false when the worker's presence expired, as after a crash,
	// and when it left because its share could not start.
	Clean bool
}

// notifyDeparture passes the departure of a worker to Config.OnDeparture
// while the run has not begun to stop. entry is the deletion of its
// presence, last its presence before that, and s its slot or nil.
func (r *runner) notifyDeparture(entry jetstream.KeyValueEntry, last bus.Presence, s *slot) {
	if r.cfg.OnDeparture == nil {
		return
	}
	if r.record.State != bus.RunWaiting && r.record.State != bus.RunRunning {
		return
	}
	d := Departure{Worker: last.ID, Share: -1}
	// A presence that expired is purged; a worker that leaves deletes it.
	left := entry.Operation() == jetstream.KeyValueDelete
	d.Clean = left && s == nil
	if s != nil {
		d.Share = s.index
		// The final report may still be on its way, but a worker whose
		// share ended marks its presence done before it leaves.
		d.Clean = left && (r.agg.finals[s.index] || last.State == bus.WorkerDone)
	}
	r.cfg.OnDeparture(d)
}
