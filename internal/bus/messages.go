package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// RunState is the stage of a run's life.
type RunState string

// The states of a run, in order.
const (
	// RunWaiting: the run is announced and waits for workers.
	RunWaiting RunState = "waiting"
	// RunRunning: shares are assigned and workers generate load.
	RunRunning RunState = "running"
	// RunStopping: workers must stop their users and send final reports.
	RunStopping RunState = "stopping"
	// RunDone: the coordinator has its final summary; workers exit.
	RunDone RunState = "done"
)

// Run is the run record at RunKey, written only by the coordinator. It is
// JSON so that `nats kv get` shows it readably.
type Run struct {
	ID             string        `json:"id"`
	State          RunState      `json:"state"`
	Coordinator    string        `json:"coordinator"`
	Plan           *plan.Plan    `json:"plan"`
	ReportInterval time.Duration `json:"report_interval"`
	Lease          time.Duration `json:"lease"`
	Shares         int           `json:"shares,omitempty"`
	Started        time.Time     `json:"started,omitzero"`
}

// Assignment is the share assigned to a worker, at ShareKey. The
// coordinator rewrites it when it rebalances the fleet; Share.Index stays
// the same for as long as the worker holds the share, and Share.SpawnRate is
// the rate at which the worker moves to the new user count.
type Assignment struct {
	Share  plan.Share `json:"share"`
	Worker string     `json:"worker"`
	// Duration is how long the share runs from when the worker receives
	// it: the plan's duration minus the time the run has already run.
	Duration time.Duration `json:"duration,omitempty"`
}

// GrantRequest is a worker's request for iterations. A worker repeats a
// request that got no reply with the same Seq, and gets the same grant.
type GrantRequest struct {
	Worker string `json:"worker"`
	Seq    uint64 `json:"seq"`
}

// GrantReply carries the iterations granted; 0 means none are left.
// They are the iterations numbered First to First+Iterations-1 across the
// fleet, counted from 0 in the order the coordinator granted them.
type GrantReply struct {
	Iterations int64 `json:"iterations"`
	First      int64 `json:"first,omitempty"`
}

// WorkerState is the stage of a worker in a run.
type WorkerState string

// The states of a worker.
const (
	WorkerReady   WorkerState = "ready"
	WorkerRunning WorkerState = "running"
	WorkerDone    WorkerState = "done"
	// WorkerRejected: the worker rejected the run, for the Reason in its
	// presence, and takes no share.
	WorkerRejected WorkerState = "rejected"
	// WorkerFailed is the state a worker sets, with the error, when it
	// cannot start its share, just before it leaves the run.
	WorkerFailed WorkerState = "failed"
)

// Presence is a worker's entry at WorkerKey.
type Presence struct {
	ID    string      `json:"id"`
	Host  string      `json:"host"`
	PID   int         `json:"pid"`
	State WorkerState `json:"state"`
	Share int         `json:"share"` // -1 when the worker holds none
	// Reason is why a worker in WorkerRejected rejected the run.
	Reason string `json:"reason,omitempty"`
	// Error is the error that kept the worker from starting its share,
	// set in state WorkerFailed, such as a Go task that it lacks.
	Error string `json:"error,omitempty"`
}

// Report is a worker's message of every report interval: the statistics
// of the interval since its previous report. Seq starts at 1 and grows by one,
// so the coordinator counts a report delivered twice only once.
type Report struct {
	Run     string        `msgpack:"run"`
	Worker  string        `msgpack:"worker"`
	Seq     uint64        `msgpack:"seq"`
	Share   int           `msgpack:"share"`
	Final   bool          `msgpack:"final"`
	Users   int           `msgpack:"users"`
	Elapsed time.Duration `msgpack:"elapsed"`
	Sent    time.Time     `msgpack:"sent"`
	Tasks   []stats.Task  `msgpack:"tasks"`
	// Dropped counts the open-model arrivals of the interval that found
	// every user of the share busy and were not run.
	Dropped uint64 `msgpack:"dropped,omitempty"`
}

// ErrBadReport is returned by DecodeReport for a message that is not a
// report or contradicts itself.
var ErrBadReport = errors.New("invalid report")

// maxReportTasks bounds the entries of a decoded report: one per task,
// or per step of a task with steps.
const maxReportTasks = plan.MaxTasks * plan.MaxSteps

// EncodeReport returns the msgpack encoding of r.
func EncodeReport(r *Report) ([]byte, error) {
	return msgpack.Marshal(r)
}

// DecodeReport parses a report and checks that it can be merged safely.
// Every error it returns wraps ErrBadReport.
func DecodeReport(data []byte) (report *Report, err error) {
	// msgpack v5.4.1 panics on some input, such as nil where a time.Time
	// is expected, and a report may come from anyone allowed to publish it.
	defer func() {
		if p := recover(); p != nil {
			report, err = nil, fmt.Errorf("%w: the decoder failed: %v", ErrBadReport, p)
		}
	}()
	if err := checkShape(data); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	var r Report
	if err := msgpack.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReport, err)
	}
	switch {
	case !ValidID(r.Run):
		return nil, fmt.Errorf("%w: run id %q", ErrBadReport, r.Run)
	case !ValidID(r.Worker):
		return nil, fmt.Errorf("%w: worker id %q", ErrBadReport, r.Worker)
	case r.Seq == 0:
		return nil, fmt.Errorf("%w: sequence 0", ErrBadReport)
	case len(r.Tasks) > maxReportTasks:
		return nil, fmt.Errorf("%w: %d tasks", ErrBadReport, len(r.Tasks))
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		service := t.Service.Count()
		if t.Failures > t.Requests || t.Latency.Count() != t.Requests || service != 0 && service != t.Requests {
			return nil, fmt.Errorf("%w: task %q counts disagree", ErrBadReport, t.Name)
		}
	}
	return &r, nil
}
