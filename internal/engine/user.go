package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"
)

// user is one virtual user: a goroutine that runs tasks one after another
// with its own request and response buffers.
type user struct {
	engine *Engine
	shard  *shard
	rng    *rand.Rand
	quit   chan struct{} // closed when the controller stops this user
	id     int           // the user's number within its engine
	uri    []byte        // buffer for URLs with variables
	timer  *time.Timer
	req    fasthttp.Request
	resp   fasthttp.Response
	last   int // index of the task whose request req holds, or -1

	cookies *cookieJar // nil until the first request, and when cookies are off

	executions int64   // tasks run so far
	vu         *vuHost // nil until the user runs its first Go task

	// In an open-model share, arrivals delivers the time each execution
	// was due, and scheduled holds it until the execution's first request
	// is recorded. Both are zero in a closed-model share.
	arrivals  chan time.Time
	scheduled time.Time
}

// loop runs tasks until ctx is done or the controller stops the user. When
// the iterations run out or the share's validity expires it calls stop, so
// that the other users end too.
func (u *user) loop(ctx context.Context, stop context.CancelFunc) {
	e := u.engine
	defer func() {
		if u.timer != nil {
			u.timer.Stop()
		}
	}()
	for ctx.Err() == nil {
		select {
		case <-u.quit:
			return
		default:
		}
		if !u.sleep(ctx, e.pacer.reserve()) {
			return
		}
		if e.expiredNow() || !e.takeIteration(ctx) {
			stop()
			return
		}
		t := e.tasks[e.chooser.pick(u.rng)]
		u.execute(ctx, t)
		if !u.think(ctx, t) {
			return
		}
	}
}

// execute runs one execution of t.
func (u *user) execute(ctx context.Context, t *task) {
	if t.fn != nil {
		u.runFunc(ctx, t)
	} else {
		u.run(t)
	}
	u.executions++
}

// sleep waits for d, until ctx is done or the user is stopped, and reports
// whether d passed.
func (u *user) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if u.timer == nil {
		u.timer = time.NewTimer(d)
	} else {
		u.timer.Reset(d)
	}
	select {
	case <-u.timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-u.quit:
		return false
	}
}

// run sends one task's request and records the outcome. A panic while
// doing so is recovered and counted as a failed request.
func (u *user) run(t *task) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			u.last = -1
			u.record(t, time.Since(start), 0, fmt.Sprintf("panic: %v", r))
		}
	}()

	if u.last != t.index {
		t.template.CopyTo(&u.req)
		u.last = t.index
	}
	if t.url != nil {
		u.uri = t.url.expand(u.uri[:0], u)
		u.req.SetRequestURIBytes(u.uri)
	}
	jar := u.jar()

	// Every redirect that nextHop accepts is sent and recorded as one
	// more request of the task.
	c := t.client
	for hop := 0; ; hop++ {
		jar.apply(u.req.URI().Host(), &u.req)
		start = time.Now()
		err := c.DoDeadline(&u.req, &u.resp, u.engine.requestDeadline(start))
		elapsed := time.Since(start)

		var failure string
		switch {
		case err != nil:
			failure = errorMessage(err)
			u.last = -1
		case u.resp.StatusCode() >= 400:
			failure = statusMessage(u.resp.StatusCode())
		}
		if err == nil && jar.store(u.req.URI().Host(), &u.resp) {
			u.last = -1
		}
		if failure == "" {
			c, failure = u.nextHop(c, hop)
		} else {
			c = nil
		}
		u.record(t, elapsed, len(u.resp.Body()), failure)
		u.resp.Reset()
		if c == nil {
			return
		}
	}
}

// record adds one request's outcome to the user's statistics shard; an
// empty failure means success. In an open-model share, the first request
// of an execution is timed from when the execution was due, and its
// elapsed time counts as service time.
func (u *user) record(t *task, elapsed time.Duration, bytes int, failure string) {
	latency := elapsed
	if !u.scheduled.IsZero() {
		latency = max(elapsed, time.Since(u.scheduled))
		u.scheduled = time.Time{}
	}
	sh := u.shard
	sh.mu.Lock()
	st := &sh.tasks[t.index]
	st.Requests++
	st.Bytes += uint64(bytes)
	st.Latency.Record(latency)
	if u.engine.open {
		st.Service.Record(elapsed)
	}
	if failure != "" {
		st.Failures++
		st.RecordError(failure)
	}
	sh.mu.Unlock()
}
