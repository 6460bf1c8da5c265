package engine

import (
	"context"
	"time"
)

// watchEnd bounds the requests of a run that ends when ctx is done: once
// the run ends, no request may last past the end plus the plan's
// graceful_stop. When ctx has a deadline, that bound is known in advance
// and applies to requests started before the end too. The returned
// function stops watching ctx.
func (e *Engine) watchEnd(ctx context.Context) (stop func() bool) {
	grace := e.plan.GracefulStop
	if deadline, ok := ctx.Deadline(); ok {
		e.lowerRequestLimit(deadline.Add(grace))
	}
	return context.AfterFunc(ctx, func() {
		e.lowerRequestLimit(time.Now().Add(grace))
	})
}

// lowerRequestLimit moves the latest end of any request to t unless it is
// already earlier.
func (e *Engine) lowerRequestLimit(t time.Time) {
	limit := max(1, int64(t.Sub(e.origin)))
	for {
		old := e.requestLimit.Load()
		if old != 0 && old <= limit {
			return
		}
		if e.requestLimit.CompareAndSwap(old, limit) {
			return
		}
	}
}

// requestDeadline returns when a request that starts at start times out:
// after the plan's timeout, or earlier when the run's end plus its
// graceful_stop comes first.
//
// NOTE: the deadline is fixed when the request starts, because fasthttp
// cannot shorten a request in flight. When the run ends before ctx's
// deadline, because ctx is cancelled or the iterations run out, a request
// that started before the end therefore still runs up to its full timeout.
func (e *Engine) requestDeadline(start time.Time) time.Time {
	deadline := start.Add(e.plan.Timeout)
	if limit := e.requestLimit.Load(); limit != 0 {
		if end := e.origin.Add(time.Duration(limit)); end.Before(deadline) {
			deadline = end
		}
	}
	return deadline
}
