package coordinator

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
	"github.com/barrage-load/barrage/internal/threshold"
)

// reportBuffer is how many undecoded reports may wait for the run loop.
const reportBuffer = 1024

// consumeReports starts delivering the run's reports to r.reports.
func (r *runner) consumeReports(ctx context.Context) (*bus.Follower, error) {
	r.reports = make(chan []byte, reportBuffer)
	f, err := r.bus.Reports(ctx, r.cfg.RunID, func(data []byte) {
		select {
		case r.reports <- data:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return nil, fmt.Errorf("consume reports: %w", err)
	}
	return f, nil
}

// publishLive sends the live summary, tasks and workers on stats.<run>.*.
func (r *runner) publishLive(now time.Time) {
	elapsed := r.elapsed(now)
	seconds := now.Sub(r.lastTick).Seconds()
	r.lastTick = now
	// Reports arrive between ticks, so a short interval, such as the one
	// ended by the final report, would give a meaningless rate.
	seconds = max(seconds, r.cfg.ReportInterval.Seconds())

	intervalTasks, intervalDropped := r.agg.takeInterval()
	intervalAll, intervalSummaries := summarize(intervalTasks, seconds)
	addSteps(intervalSummaries, r.agg.takeStepInterval(), seconds)
	all, totals := summarize(r.agg.total, elapsed)
	addSteps(totals, r.agg.stepTotal, elapsed)
	for i := range totals {
		totals[i].RPS = intervalSummaries[i].RPS
		for j := range totals[i].Steps {
			totals[i].Steps[j].RPS = intervalSummaries[i].Steps[j].RPS
		}
	}

	live := Live{
		Run:         r.cfg.RunID,
		State:       string(r.record.State),
		ElapsedS:    elapsed,
		Users:       r.agg.users(),
		Workers:     len(r.present),
		Requests:    all.Requests,
		Failures:    all.Failures,
		FailureRate: failureRate(all.Failures, all.Requests),
		Bytes:       all.Bytes,
		RPS:         rate(intervalAll.Requests, seconds),
		LatencyMS:   latencyOf(&all.Latency),
		ServiceMS:   serviceOf(&all.Service),

		DroppedArrivals: r.agg.arrivalsDropped,
		Interval: Interval{
			Seconds:     seconds,
			Requests:    intervalAll.Requests,
			Failures:    intervalAll.Failures,
			FailureRate: failureRate(intervalAll.Failures, intervalAll.Requests),
			Bytes:       intervalAll.Bytes,
			RPS:         rate(intervalAll.Requests, seconds),
			LatencyMS:   latencyOf(&intervalAll.Latency),
			ServiceMS:   serviceOf(&intervalAll.Service),

			DroppedArrivals: intervalDropped,
		},
		Progress: r.progress(now),
	}
	if r.record.State != bus.RunWaiting {
		r.history = append(r.history, Point{
			Time:        now,
			ElapsedS:    elapsed,
			Users:       live.Users,
			Workers:     live.Workers,
			Requests:    live.Interval.Requests,
			Failures:    live.Interval.Failures,
			FailureRate: live.Interval.FailureRate,
			RPS:         live.Interval.RPS,
			LatencyMS:   live.Interval.LatencyMS,

			DroppedArrivals: intervalDropped,
		})
	}
	r.publish("summary", live)
	r.publish("tasks", LiveTasks{Run: r.cfg.RunID, ElapsedS: elapsed, Tasks: totals})
	r.publish("workers", LiveWorkers{Run: r.cfg.RunID, Workers: r.workerViews(now)})
	if r.cfg.OnLive != nil {
		r.cfg.OnLive(Snapshot{Live: live, Tasks: totals, IntervalTasks: intervalSummaries})
	}
}

// progress returns the part of the run done, from 0 to 1.
func (r *runner) progress(now time.Time) float64 {
	switch {
	case r.record.State == bus.RunDone:
		return 1
	case r.started.IsZero():
		return 0
	case r.cfg.Plan.Iterations > 0 && r.cfg.Plan.Duration <= 0:
		return float64(r.granted) / float64(r.cfg.Plan.Iterations)
	case r.cfg.Plan.Duration > 0:
		return min(1, now.Sub(r.started).Seconds()/r.cfg.Plan.Duration.Seconds())
	}
	return 0
}

func (r *runner) workerViews(now time.Time) []WorkerView {
	ids := make(map[string]bool)
	for id := range r.present {
		ids[id] = true
	}
	for id := range r.agg.workers {
		ids[id] = true
	}
	views := make([]WorkerView, 0, len(ids))
	for id := range ids {
		v := WorkerView{ID: id, Shares: []int{}, LastReportAgeS: -1, State: "gone"}
		if p, ok := r.present[id]; ok {
			v.State = string(p.State)
		}
		if sl := r.slots[id]; sl != nil && !sl.departed {
			v.Shares = append(v.Shares, sl.index)
		}
		if w := r.agg.workers[id]; w != nil {
			v.Users = w.users
			v.LastReportAgeS = max(0, now.Sub(w.lastReport).Seconds())
		}
		views = append(views, v)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].ID < views[j].ID })
	return views
}

// lostWorkers counts the workers that left without a final report.
func (r *runner) lostWorkers() int {
	n := 0
	for _, s := range r.slots {
		if s.departed && !r.agg.finals[s.index] {
			n++
		}
	}
	return n
}

func (r *runner) elapsed(now time.Time) float64 {
	if r.started.IsZero() {
		return 0
	}
	return now.Sub(r.started).Seconds()
}

func (r *runner) publish(kind string, v any) {
	subject := bus.StatsSubject(r.cfg.RunID, kind)
	if err := r.bus.NC.Publish(subject, mustJSON(v)); err != nil {
		r.log.Warn("could not publish statistics", "subject", subject, "err", err)
	}
}

// finish marks the run done, publishes the final summary and returns it.
// problem is empty for a complete run.
func (r *runner) finish(ctx context.Context, problem string) *Summary {
	ended := time.Now()
	// Reports that arrived with the last final report are still queued.
	for drained := false; !drained; {
		select {
		case data := <-r.reports:
			r.onReport(data)
		default:
			drained = true
		}
	}
	// Workers exit when they see the run done. Without that state they
	// would wait for the lease on the run to expire and exit with an error.
	for deadline := time.Now().Add(r.cfg.Lease); !r.setState(ctx, bus.RunDone) && time.Now().Before(deadline); {
		time.Sleep(r.retryEvery())
	}

	seconds := r.elapsed(ended)
	all, tasks := summarize(r.agg.total, seconds)
	addSteps(tasks, r.agg.stepTotal, seconds)
	s := &Summary{
		Run:         r.cfg.RunID,
		Started:     r.started,
		Ended:       ended,
		DurationS:   seconds,
		Requests:    all.Requests,
		Failures:    all.Failures,
		FailureRate: failureRate(all.Failures, all.Requests),
		Bytes:       all.Bytes,
		RPS:         rate(all.Requests, seconds),
		LatencyMS:   latencyOf(&all.Latency),
		ServiceMS:   serviceOf(&all.Service),

		DroppedArrivals:  r.agg.arrivalsDropped,
		Tasks:            tasks,
		Errors:           stats.SortedErrors(all.Errors),
		Workers:          len(r.slots),
		Lost:             r.lostWorkers(),
		Rejections:       r.rejectionList(),
		RejectedMessages: r.rejected,
		Complete:         problem == "",
		Problem:          problem,
	}
	s.Thresholds = r.checkFinalThresholds(seconds)
	s.ThresholdsPassed = len(threshold.Failed(s.Thresholds)) == 0
	r.publishLive(ended)
	s.History = r.history
	r.publish("final", s)
	if err := r.bus.NC.FlushTimeout(5 * time.Second); err != nil {
		r.log.Warn("could not flush the final summary", "err", err)
	}
	if problem != "" {
		r.log.Error("run incomplete", "problem", problem)
	}
	if s.Lost > 0 {
		r.log.Warn("some workers left without a final report; their last interval is missing", "workers_lost", s.Lost)
	}
	r.log.Info("run finished", "requests", s.Requests, "failures", s.Failures, "duration", time.Duration(seconds*float64(time.Second)).Round(time.Millisecond))
	return s
}

// unstarted returns the summary of a run that never started because of
// err: no requests, and the rejections and rejected messages seen while
// it waited for workers.
func (r *runner) unstarted(err error) *Summary {
	now := time.Now()
	_, tasks := summarize(r.agg.total, 0)
	s := &Summary{
		Run:              r.cfg.RunID,
		Started:          now,
		Ended:            now,
		Tasks:            tasks,
		Errors:           []stats.ErrorCount{},
		Rejections:       r.rejectionList(),
		RejectedMessages: r.rejected,
		Problem:          err.Error(),
		History:          []Point{},
	}
	s.Thresholds = r.checkFinalThresholds(0)
	s.ThresholdsPassed = len(threshold.Failed(s.Thresholds)) == 0
	return s
}
