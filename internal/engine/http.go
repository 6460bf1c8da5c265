package engine

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/plan"
	gotask "github.com/barrage-load/barrage/task"
)

// userAgent identifies Barrage to targets unless a task sets its own.
const userAgent = "barrage"

// client sends requests to one host over kept-alive connections. It is
// safe for concurrent use. A *fasthttp.HostClient sends HTTP/1.1, and an
// *h2Client HTTP/2.
type client interface {
	// DoDeadline sends req and reads the response into resp, or returns
	// an error when deadline passes first. It never sends req twice.
	DoDeadline(req *fasthttp.Request, resp *fasthttp.Response, deadline time.Time) error
}

// task is a plan task ready to run: the steps of an HTTP task, or the
// function of a Go task.
type task struct {
	index int
	name  string
	steps []*step     // at least one for an HTTP task, nil for a Go task
	fn    gotask.Func // set for a task with go: instead of url
	slot  int         // index of a Go task's statistics in a shard
}

// newTask prepares an HTTP task: its one request as a step without a
// name, or its steps.
func newTask(index int, t plan.Task, clients *clientPool, vars *variableTable) (*task, error) {
	prepared := &task{index: index, name: t.Name}
	if len(t.Steps) == 0 {
		request := plan.Step{
			Method: t.Method, URL: t.URL, Headers: t.Headers, Body: t.Body,
			BodyFile: t.BodyFile, Extract: t.Extract, Expect: t.Expect,
		}
		s, err := newStep(request, "task "+t.Name, clients, vars)
		if err != nil {
			return nil, err
		}
		prepared.steps = []*step{s}
		return prepared, nil
	}
	for _, ps := range t.Steps {
		s, err := newStep(ps, fmt.Sprintf("step %s of task %s", ps.Name, t.Name), clients, vars)
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", ps.Name, err)
		}
		prepared.steps = append(prepared.steps, s)
	}
	return prepared, nil
}

// newClient returns a client that keeps one connection per user, so that a
// user never waits for another's connection. clientPool lowers the cap when
// the plan sets http.max_connections. It never sends a request twice:
// fasthttp's default resends idempotent requests after some transport
// errors, and the target would then receive more than the statistics count.
func newClient(addr string, tls bool, users int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         tls,
		Name:                          userAgent,
		MaxConns:                      max(users, 1) + 16,
		MaxIdemponentCallAttempts:     1,
		MaxIdleConnDuration:           4 * time.Second,
		ReadBufferSize:                16 << 10,
		NoDefaultUserAgentHeader:      false,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
	}
}

// errorMessage turns a transport error into a message that groups well:
// timeouts read the same whatever the request.
func errorMessage(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.As(err, &netErr) && netErr.Timeout():
		return "request timed out"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection closed by the target"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "no free connection within the request timeout; raise http.max_connections"
	}
	msg := err.Error()
	if errors.Is(err, allowlist.ErrNotAllowed) {
		// The message names the host, but not the dial's source port.
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Err != nil {
			return opErr.Err.Error()
		}
		return msg
	}
	if i := strings.Index(msg, "dial tcp"); i >= 0 && strings.Contains(msg, "connection refused") {
		return "connection refused"
	}
	return msg
}

// statusMessage returns the failure message of an HTTP status of 400 or more.
func statusMessage(code int) string {
	return "HTTP " + strconv.Itoa(code) + " " + fasthttp.StatusMessage(code)
}
