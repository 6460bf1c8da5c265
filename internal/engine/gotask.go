package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/vuhost"
	gotask "github.com/barrage-load/barrage/task"
)

// ErrTaskNotCompiled is wrapped by the error of New when the plan names a
// Go task that this binary did not register.
var ErrTaskNotCompiled = errors.New("not compiled into this worker; build your own worker with task.Register")

// newGoTask prepares a task that runs the function registered under t.Go.
func newGoTask(index int, t plan.Task) (*task, error) {
	fn, ok := gotask.Lookup(t.Go)
	if !ok {
		return nil, fmt.Errorf("task %s is %w", t.Go, ErrTaskNotCompiled)
	}
	return &task{index: index, name: t.Name, fn: fn}, nil
}

// vuHost is the engine side of a user's *task.VU. It counts the requests
// of the current execution so that runFunc can charge a returned error to
// them.
type vuHost struct {
	user *user
	vu   *gotask.VU
	task *task // task of the current execution

	// ctx is passed to every execution. It ends the plan's graceful_stop
	// after the run ends, so that an execution in progress at the end
	// still sends its remaining requests, each bounded by
	// requestDeadline.
	ctx context.Context

	requests   int  // requests recorded in the current execution
	lastFailed bool // the last of them failed
}

// runFunc runs one execution of the Go task t and records its outcome.
// runCtx ends when the run ends. An error returned by the function fails
// the execution's last request, or counts one failed request when it sent
// none. When the last request already failed, nothing more is counted and
// that request's message stays. A panic is recovered and counted the same
// way as an error.
func (u *user) runFunc(runCtx context.Context, t *task) {
	if u.vu == nil {
		u.vu = &vuHost{user: u, ctx: afterGrace(runCtx, u.engine.plan.GracefulStop)}
		u.vu.vu = vuhost.NewVU(u.vu).(*gotask.VU)
	}
	h := u.vu
	h.task, h.requests, h.lastFailed = t, 0, false
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			u.last = -1
			u.failExecution(t, time.Since(start), fmt.Sprintf("panic: %v", r))
		}
	}()

	// NOTE: a function that ignores ctx and never returns keeps Run from
	// returning, because Run waits for every user.
	err := t.fn(h.ctx, h.vu)
	switch {
	case err == nil:
	case h.ctx.Err() != nil && errors.Is(err, h.ctx.Err()):
		// The run and its graceful stop ended during the execution, which
		// is not its failure.
	default:
		u.failExecution(t, time.Since(start), err.Error())
	}
}

// afterGrace returns a context that is cancelled grace after ctx is done.
func afterGrace(ctx context.Context, grace time.Duration) context.Context {
	graceful, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() { time.AfterFunc(grace, cancel) })
	return graceful
}

// failExecution charges a failed execution to its last request, or records
// one failed request of elapsed latency when the execution sent none.
func (u *user) failExecution(t *task, elapsed time.Duration, failure string) {
	h := u.vu
	if h.lastFailed {
		return
	}
	if h.requests == 0 {
		u.record(t.slot, elapsed, 0, failure)
		return
	}
	sh := u.shard
	sh.mu.Lock()
	st := &sh.tasks[t.slot]
	st.Failures++
	st.RecordError(failure)
	sh.mu.Unlock()
	h.lastFailed = true
}

// ID returns the user's number within its engine.
func (h *vuHost) ID() int { return h.user.id }

// Iteration returns how many tasks the user ran before this one.
func (h *vuHost) Iteration() int64 { return h.user.executions }

// Do sends req as a request of the current task, following redirects like
// user.run, and copies the final response into resp.
func (h *vuHost) Do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	u, t := h.user, h.task
	uri := req.URI()
	scheme, host := string(uri.Scheme()), string(uri.Host())
	if scheme != "http" && scheme != "https" || host == "" {
		return fmt.Errorf("invalid url %q: use an absolute http or https URL", uri.String())
	}

	// u.req no longer matches any task's template after this.
	u.acquireBuffers()
	u.last = -1
	req.CopyTo(u.req)
	// http.compression is left out: the function sets Accept-Encoding
	// itself when it wants compressed responses.
	override := u.engine.plan.HTTP.Host
	if override != "" {
		u.req.Header.SetHost(override)
		u.req.UseHostHeader = true
	}
	c := u.engine.clients.get(scheme, host, serverNameOf(override))
	jar := u.jar()
	for hop := 0; ; hop++ {
		jar.apply(u.req.URI().Host(), u.req)
		start := time.Now()
		err := c.DoDeadline(u.req, u.resp, u.engine.requestDeadline(start))
		elapsed := time.Since(start)

		var failure string
		switch {
		case err != nil:
			failure = errorMessage(err)
		case u.resp.StatusCode() >= 400:
			failure = statusMessage(u.resp.StatusCode())
		}
		if err == nil {
			jar.store(u.req.URI().Host(), u.resp)
		}
		var redirectFailure string
		if failure == "" {
			c, redirectFailure = u.nextHop(c, hop)
			failure = redirectFailure
		} else {
			c = nil
		}
		u.record(t.slot, elapsed, len(u.resp.Body()), failure)
		h.requests++
		h.lastFailed = failure != ""

		if c == nil {
			u.resp.CopyTo(resp)
			u.resp.Reset()
			switch {
			case err != nil:
				return fmt.Errorf("%s %s: %s: %w", req.Header.Method(), uri, failure, err)
			case redirectFailure != "":
				return fmt.Errorf("%s %s: %s", req.Header.Method(), uri, redirectFailure)
			}
			return nil
		}
		u.resp.Reset()
	}
}
