package engine

import (
	"context"
	"sync"
	"time"
)

// maxArrivalWait bounds how long the arrival loop sleeps, so that it
// follows a changing rate, such as a ramp that starts from 0, closely.
const maxArrivalWait = 10 * time.Millisecond

// arrive runs an open-model share until ctx is done: it starts task
// executions at the share's part of the plan's arrival rate, whether or
// not earlier executions have finished. Each execution runs on an idle
// user; users are started as needed up to the share's users. An arrival
// that finds every user busy is counted as dropped, never run late.
//
// The arrivals due by a time are the integral of the rate up to it. So
// the count stays right when the loop wakes late, and the loop follows a
// rate that changes with stages or a new share.
func (e *Engine) arrive(ctx context.Context, stop context.CancelFunc, wg *sync.WaitGroup) {
	pool := &executors{engine: e}
	defer pool.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	start := time.Now()
	last := start
	lastRate := e.rateAt(start, start)
	// The first arrival is due at once when the rate starts above 0.
	credit := 0.0
	if lastRate > 0 {
		credit = 1
	}
	for {
		now := time.Now()
		rate := e.rateAt(start, now)
		// The rate moves linearly between stages, so the mean of its two
		// ends is exact within a stage.
		credit += (lastRate + rate) / 2 * now.Sub(last).Seconds()
		last, lastRate = now, rate

		for ; credit >= 1; credit-- {
			if e.expiredNow() {
				stop()
				return
			}
			// The arrival was due when the credit reached 1.
			due := now
			if rate > 0 {
				due = now.Add(-time.Duration((credit - 1) / rate * float64(time.Second)))
			}
			if !e.dispatch(ctx, pool, wg, due) {
				stop()
				return
			}
		}

		wait := maxArrivalWait
		if rate > 0 {
			wait = min(wait, time.Duration((1-credit)/rate*float64(time.Second)))
		}
		timer.Reset(max(wait, 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// rateAt returns the share's arrival rate at now, for a share that
// started at start.
func (e *Engine) rateAt(start, now time.Time) float64 {
	elapsed := e.runOffset + now.Sub(start)
	return e.plan.RateAt(elapsed) * e.Share().Part
}

// dispatch hands the arrival due at due to an idle user, or counts it as
// dropped when every user is busy. It reports false when the run must
// end because the iterations are used up.
func (e *Engine) dispatch(ctx context.Context, pool *executors, wg *sync.WaitGroup, due time.Time) bool {
	u := pool.take(e.Share().Users)
	if u == nil {
		e.dropped.Add(1)
		return true
	}
	if !e.takeIteration(ctx) {
		pool.put(u)
		return false
	}
	e.users.Add(1)
	if u.arrivals == nil {
		u.arrivals = make(chan time.Time, 1)
		u.arrivals <- due
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.serve(ctx, pool)
		}()
		return true
	}
	u.arrivals <- due
	return true
}

// executors are the users of an open-model share, busy or idle.
type executors struct {
	engine *Engine

	mu      sync.Mutex
	idle    []*user // most recently used last
	size    int     // users started and not yet ended
	started int     // users ever started, which numbers the next one
	closed  bool
}

// take returns an idle user, or a new one when fewer than limit users
// exist, or nil when all limit users are busy. A new user has no
// arrivals channel yet.
func (p *executors) take(limit int) *user {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		u := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return u
	}
	if p.size >= limit || p.closed {
		p.mu.Unlock()
		return nil
	}
	p.size++
	p.started++
	id := p.started - 1
	p.mu.Unlock()
	// The user is built outside the lock, because its allocations may
	// assist the garbage collector for a while, and every user that ends
	// an execution meanwhile would wait for the lock in put.
	return p.engine.newUser(id)
}

// put returns u to the idle users and reports whether it stays. A user
// beyond the share's users, which a new share may have lowered, ends
// instead.
func (p *executors) put(u *user) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.size > p.engine.Share().Users {
		p.size--
		if u.arrivals != nil {
			close(u.quit)
		}
		return false
	}
	p.idle = append(p.idle, u)
	return true
}

// close ends the idle users. Busy users end after their execution.
func (p *executors) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, u := range p.idle {
		if u.arrivals != nil {
			close(u.quit)
		}
	}
	p.idle = nil
}

// serve runs one task execution for each arrival it receives, until ctx
// is done or the pool ends the user. Each execution's first request is
// timed from its arrival, so that waiting shows in the latency.
func (u *user) serve(ctx context.Context, pool *executors) {
	e := u.engine
	defer func() {
		if u.timer != nil {
			u.timer.Stop()
		}
	}()
	for {
		select {
		case due := <-u.arrivals:
			u.scheduled = due
			if u.sleep(ctx, e.pacer.reserve()) {
				u.takeRow()
				u.execute(ctx, e.tasks[e.chooser.pick(u.rng)])
			}
			u.scheduled = time.Time{}
			e.users.Add(-1)
			if !pool.put(u) {
				return
			}
		case <-u.quit:
			return
		case <-ctx.Done():
			return
		}
	}
}
