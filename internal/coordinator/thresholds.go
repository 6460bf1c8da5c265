package coordinator

import (
	"context"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
	"github.com/barrage-load/barrage/internal/threshold"
)

// checkThresholds compares the figures since the start with the latency
// and error rate limits of every group that sets abort_on_fail, and stops
// the run at the first limit that failed, as a signal would.
func (r *runner) checkThresholds(ctx context.Context, now time.Time) {
	if r.record.State != bus.RunRunning {
		return
	}
	seconds := r.elapsed(now)
	for _, g := range r.thresholds {
		if !g.Limits.AbortOnFail {
			continue
		}
		failed := threshold.Failed(threshold.CheckEarly(g.Limits, g.Task, r.figures(g.Task, seconds)))
		if len(failed) == 0 {
			continue
		}
		breach := failed[0]
		r.aborted = "aborted: threshold " + breach.Name + " breached at " + breach.ValueText()
		r.log.Warn("threshold breached: stopping the run", "threshold", breach.Name,
			"value", breach.ValueText(), "requests", breach.Requests)
		r.beginStopping(ctx, "threshold")
		return
	}
}

// checkFinalThresholds compares the figures of the whole run over seconds
// with every limit of the plan, min_rps included.
func (r *runner) checkFinalThresholds(seconds float64) []threshold.Result {
	results := []threshold.Result{}
	for _, g := range r.thresholds {
		results = append(results, threshold.Check(g.Limits, g.Task, r.figures(g.Task, seconds))...)
	}
	if len(results) > 0 {
		r.log.Info("thresholds checked", "thresholds", len(results), "failed", len(threshold.Failed(results)))
	}
	return results
}

// figures returns the statistics since the start of the task called task,
// or of all tasks together when task is empty, with the rate over
// seconds.
func (r *runner) figures(task string, seconds float64) threshold.Figures {
	if task != "" {
		return figuresOf(&r.agg.total[r.agg.taskIndex[task]], seconds)
	}
	var all stats.Task
	for i := range r.agg.total {
		all.Merge(&r.agg.total[i])
	}
	return figuresOf(&all, seconds)
}

// figuresOf returns the figures of t, with the rate over seconds.
func figuresOf(t *stats.Task, seconds float64) threshold.Figures {
	h := &t.Latency
	return threshold.Figures{
		Requests:  t.Requests,
		P50:       h.Quantile(0.50),
		P90:       h.Quantile(0.90),
		P95:       h.Quantile(0.95),
		P99:       h.Quantile(0.99),
		P999:      h.Quantile(0.999),
		Max:       h.Max(),
		Mean:      h.Mean(),
		ErrorRate: failureRate(t.Failures, t.Requests),
		RPS:       rate(t.Requests, seconds),
	}
}
