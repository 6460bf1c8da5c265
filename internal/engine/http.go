package engine

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

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

// task is a plan task ready to send: its request built once, and the client
// of its host.
type task struct {
	index    int
	name     string
	template fasthttp.Request
	url      *urlTemplate // nil when the URL has no variables
	client   client
	fn       gotask.Func // set for a task with go: instead of url
}

func newTask(index int, t plan.Task, clients *clientPool) (*task, error) {
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", t.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", t.URL)
	}
	c := clients.get(u.Scheme, u.Host, serverNameOf(clients.http.Host))

	prepared := &task{index: index, name: t.Name, client: c, url: parseURLTemplate(t.URL)}
	req := &prepared.template
	req.SetRequestURI(t.URL)
	req.Header.SetMethod(t.Method)
	for name, value := range t.Headers {
		req.Header.Set(name, value)
	}
	if t.Body != "" {
		req.SetBodyString(t.Body)
	}
	setHTTPOptions(req, t.Headers, clients.http)
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
	if i := strings.Index(msg, "dial tcp"); i >= 0 && strings.Contains(msg, "connection refused") {
		return "connection refused"
	}
	return msg
}

// statusMessage returns the failure message of an HTTP status of 400 or more.
func statusMessage(code int) string {
	return "HTTP " + strconv.Itoa(code) + " " + fasthttp.StatusMessage(code)
}
