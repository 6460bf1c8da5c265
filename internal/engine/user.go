package engine

import (
	"context"
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
	buf    []byte        // buffer for header values and bodies with variables
	timer  *time.Timer
	// req and resp come from fasthttp's pools when the user sends a
	// request and go back while it pauses for long; see releaseBuffers.
	req  *fasthttp.Request
	resp *fasthttp.Response
	last int // slot of the step whose request req holds, or -1

	// values and valueSet are the user's variables by their index in the
	// engine's variableTable: extracted ones and data columns.
	values   [][]byte
	valueSet []bool
	seq      int64 // ${seq} of the current request, or 0 before its first use

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
		u.takeRow()
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

// releaseAfter is the shortest pause for which a user releases its
// request and response. Taking them back cost 0.3 µs of CPU time on a
// quiet 2-core machine and up to 1.5 µs on a busy one
// (BenchmarkRequestAfterPause against BenchmarkRequest), under 0.02 % of
// such a pause. A worker whose 50,000 users each sent one request and
// think for an hour then holds 6.0 KiB per user rather than 7.9 KiB (the
// memory figure of bench/cmd/barrage-bench).
const releaseAfter = 10 * time.Millisecond

// sleep waits for d, until ctx is done or the user is stopped, and reports
// whether d passed. A user that sleeps for releaseAfter or longer releases
// its request and response first.
func (u *user) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	if d >= releaseAfter {
		u.releaseBuffers()
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

// run sends the requests of one execution of task t, step by step. A step
// that fails ends the execution, so the later steps are not sent.
func (u *user) run(t *task) {
	for i, s := range t.steps {
		if i > 0 && !u.nextStep() {
			return
		}
		if !u.runStep(s) {
			return
		}
	}
}

// nextStep waits for the turn of a task's next step under max_rps, as the
// loop does before the first, and reports whether to send it. It is not
// sent once the run ended or the share expired. Running out of
// iterations, or the user being stopped, lets the execution finish.
func (u *user) nextStep() bool {
	e := u.engine
	if d := e.pacer.reserve(); d > 0 {
		if u.timer == nil {
			u.timer = time.NewTimer(d)
		} else {
			u.timer.Reset(d)
		}
		select {
		case <-u.timer.C:
		case <-e.ended:
			return false
		}
	}
	select {
	case <-e.ended:
		return false
	default:
	}
	return !e.expiredNow()
}

// record adds one request's outcome to the statistics at slot in the
// user's shard; an empty failure means success. In an open-model share,
// the first request of an execution is timed from when the execution was
// due, and its elapsed time counts as service time.
func (u *user) record(slot int, elapsed time.Duration, bytes int, failure string) {
	latency := elapsed
	if !u.scheduled.IsZero() {
		latency = max(elapsed, time.Since(u.scheduled))
		u.scheduled = time.Time{}
	}
	sh := u.shard
	sh.mu.Lock()
	st := &sh.tasks[slot]
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

// acquireBuffers gives the user a request and a response from fasthttp's
// pools, unless it holds them already.
func (u *user) acquireBuffers() {
	if u.req == nil {
		u.req = fasthttp.AcquireRequest()
		u.resp = fasthttp.AcquireResponse()
		u.last = -1
	}
}

// releaseBuffers returns the user's request and response, and the buffers
// they grew, to fasthttp's pools, so that a pausing user holds none. The
// next request rebuilds the request from its template.
func (u *user) releaseBuffers() {
	if u.req == nil {
		return
	}
	fasthttp.ReleaseRequest(u.req)
	fasthttp.ReleaseResponse(u.resp)
	u.req, u.resp, u.last = nil, nil, -1
}
