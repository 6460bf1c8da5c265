package coordinator

import (
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// aggregate merges worker reports into fleet-wide statistics: cumulative
// since the start and for the current interval. It is not safe for
// concurrent use.
type aggregate struct {
	run       string
	taskIndex map[string]int
	total     []stats.Task
	interval  []stats.Task
	workers   map[string]*workerStats
	finals    map[int]bool // shares whose final report arrived
	dropped   uint64       // reports rejected as foreign, duplicate or invalid

	// Open-model arrivals that found every user busy, since the start and
	// in the current interval.
	arrivalsDropped         uint64
	intervalArrivalsDropped uint64

	// stepIndex, stepTotal and stepInterval are the same for the steps of
	// each task, indexed like total. They are nil for a task without
	// steps, and the entries are named after the steps.
	stepIndex    []map[string]int
	stepTotal    [][]stats.Task
	stepInterval [][]stats.Task
}

// workerStats is the coordinator's record of one worker, from its reports.
type workerStats struct {
	id         string
	users      int
	share      int
	final      bool
	departed   bool // the worker left, so its users no longer count
	lastReport time.Time
	requests   uint64              // requests in the newest report
	latest     uint64              // highest sequence number merged
	next       uint64              // every sequence number below it was merged
	ahead      map[uint64]struct{} // merged sequence numbers at or above next
}

func newAggregate(run string, p *plan.Plan) *aggregate {
	a := &aggregate{
		run:       run,
		taskIndex: make(map[string]int, len(p.Tasks)),
		total:     make([]stats.Task, len(p.Tasks)),
		interval:  make([]stats.Task, len(p.Tasks)),
		workers:   make(map[string]*workerStats),
		finals:    make(map[int]bool),
	}
	a.stepIndex = make([]map[string]int, len(p.Tasks))
	a.stepTotal = make([][]stats.Task, len(p.Tasks))
	a.stepInterval = make([][]stats.Task, len(p.Tasks))
	for i, t := range p.Tasks {
		a.taskIndex[t.Name] = i
		a.total[i].Name = t.Name
		a.interval[i].Name = t.Name
		if len(t.Steps) == 0 {
			continue
		}
		a.stepIndex[i] = make(map[string]int, len(t.Steps))
		a.stepTotal[i] = make([]stats.Task, len(t.Steps))
		a.stepInterval[i] = make([]stats.Task, len(t.Steps))
		for j, s := range t.Steps {
			a.stepIndex[i][s.Name] = j
			a.stepTotal[i][j].Name = s.Name
			a.stepInterval[i][j].Name = s.Name
		}
	}
	return a
}

// add merges r unless it belongs to another run or was merged before. It
// reports whether r was merged.
func (a *aggregate) add(r *bus.Report, now time.Time) bool {
	if r.Run != a.run {
		a.dropped++
		return false
	}
	w := a.workers[r.Worker]
	if w == nil {
		w = &workerStats{id: r.Worker, next: 1, ahead: make(map[uint64]struct{})}
		a.workers[r.Worker] = w
	}
	if !w.markSeen(r.Seq) {
		a.dropped++
		return false
	}
	for i := range r.Tasks {
		t := &r.Tasks[i]
		idx, ok := a.taskIndex[t.Name]
		if !ok {
			continue
		}
		// A task with steps is the merge of its steps, and a task without
		// steps reports under its own name only.
		if t.Step != "" || a.stepIndex[idx] != nil {
			j, ok := a.stepIndex[idx][t.Step]
			if !ok {
				continue
			}
			a.stepTotal[idx][j].Merge(t)
			a.stepInterval[idx][j].Merge(t)
		}
		a.total[idx].Merge(t)
		a.interval[idx].Merge(t)
	}
	a.arrivalsDropped += r.Dropped
	a.intervalArrivalsDropped += r.Dropped
	w.lastReport = now
	if r.Seq > w.latest && !w.final && !w.departed {
		// Reports may arrive out of order, so the newest one sets the users.
		w.latest = r.Seq
		w.users = r.Users
		w.share = r.Share
		w.requests = 0
		for i := range r.Tasks {
			w.requests += r.Tasks[i].Requests
		}
	}
	if r.Final {
		w.final = true
		w.users = 0
		a.finals[r.Share] = true
	}
	return true
}

// markSeen records seq and reports whether it was new.
func (w *workerStats) markSeen(seq uint64) bool {
	if seq < w.next {
		return false
	}
	if _, dup := w.ahead[seq]; dup {
		return false
	}
	w.ahead[seq] = struct{}{}
	for {
		if _, ok := w.ahead[w.next]; !ok {
			return true
		}
		delete(w.ahead, w.next)
		w.next++
	}
}

// users returns the users the workers reported last, summed.
func (a *aggregate) users() int {
	n := 0
	for _, w := range a.workers {
		n += w.users
	}
	return n
}

// takeInterval returns the statistics of the interval that ends now and
// starts the next one, with the arrivals dropped in it.
func (a *aggregate) takeInterval() ([]stats.Task, uint64) {
	out := make([]stats.Task, len(a.interval))
	for i := range a.interval {
		out[i].Name = a.interval[i].Name
		out[i].Merge(&a.interval[i])
		a.interval[i].Reset()
	}
	dropped := a.intervalArrivalsDropped
	a.intervalArrivalsDropped = 0
	return out, dropped
}

// takeStepInterval returns the statistics of the steps over the interval
// that ends now, indexed like takeInterval's, and starts the next one.
func (a *aggregate) takeStepInterval() [][]stats.Task {
	out := make([][]stats.Task, len(a.stepInterval))
	for i, steps := range a.stepInterval {
		if steps == nil {
			continue
		}
		out[i] = make([]stats.Task, len(steps))
		for j := range steps {
			out[i][j].Name = steps[j].Name
			out[i][j].Merge(&steps[j])
			steps[j].Reset()
		}
	}
	return out
}
