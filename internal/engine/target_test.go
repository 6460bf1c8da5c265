package engine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// targetBody is the body of every response the test target sends.
const targetBody = "ok"

// target is an HTTP server on loopback that counts the requests it
// receives, in total and per path. The query of a request sets the
// response: delay=DURATION waits before responding (or until the client
// goes away), status=CODE sets the status code, and abort=1 drops the
// connection without a response.
type target struct {
	server *httptest.Server
	total  atomic.Int64
	paths  sync.Map // path -> *atomic.Int64

	mu       sync.Mutex
	arrivals []time.Time
}

// newTarget starts a target that is closed when the test ends.
func newTarget(t testing.TB) *target {
	t.Helper()
	tg := &target{}
	tg.server = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.server.Close)
	return tg
}

func (tg *target) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	tg.total.Add(1)
	counter, _ := tg.paths.LoadOrStore(r.URL.Path, new(atomic.Int64))
	counter.(*atomic.Int64).Add(1)
	tg.mu.Lock()
	tg.arrivals = append(tg.arrivals, now)
	tg.mu.Unlock()

	query := r.URL.Query()
	if delay, err := time.ParseDuration(query.Get("delay")); err == nil {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	if query.Get("abort") != "" {
		panic(http.ErrAbortHandler)
	}
	status := http.StatusOK
	if code, err := strconv.Atoi(query.Get("status")); err == nil {
		status = code
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(targetBody))
}

// count returns how many requests for path the target received.
func (tg *target) count(path string) int64 {
	counter, ok := tg.paths.Load(path)
	if !ok {
		return 0
	}
	return counter.(*atomic.Int64).Load()
}

// arrivalTimes returns a copy of the arrival time of every request.
func (tg *target) arrivalTimes() []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]time.Time(nil), tg.arrivals...)
}

// closedAddress returns a loopback address where nothing listens: the
// port of a listener that was opened and closed again.
func closedAddress(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// parsePlan parses a YAML plan so that its defaults apply.
func parsePlan(t testing.TB, format string, args ...any) *plan.Plan {
	t.Helper()
	text := fmt.Sprintf(format, args...)
	p, err := plan.Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse plan:\n%s\nerror: %v", text, err)
	}
	return p
}

// newEngine prepares share s of p and fails the test on error.
func newEngine(t testing.TB, p *plan.Plan, s plan.Share) *Engine {
	t.Helper()
	e, err := New(p, s, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// onlyShare returns the single share of p.
func onlyShare(p *plan.Plan) plan.Share { return p.Split(1)[0] }

// runTimeout bounds every Run in these tests, so that an engine that never
// stops fails its test instead of hanging the package.
const runTimeout = 30 * time.Second

// runEngine runs e to its end and returns how long Run took.
func runEngine(t testing.TB, e *Engine) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	start := time.Now()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(start)
	if elapsed >= runTimeout {
		t.Fatalf("Run took %v and was stopped by the test's own timeout", elapsed)
	}
	return elapsed
}

// startEngine runs e in a goroutine and returns the channel that receives
// Run's error.
func startEngine(ctx context.Context, e *Engine) <-chan error {
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	return done
}

// waitRun waits up to limit for Run to return and returns how long it
// took since start.
func waitRun(t testing.TB, done <-chan error, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("Run did not return within %v", limit)
		return 0
	}
}

// total merges the statistics of every task under the name "all tasks".
func total(tasks []stats.Task) stats.Task {
	sum := stats.Task{Name: "all tasks"}
	for i := range tasks {
		sum.Merge(&tasks[i])
	}
	return sum
}

// byName indexes statistics by task name.
func byName(tasks []stats.Task) map[string]stats.Task {
	out := make(map[string]stats.Task, len(tasks))
	for _, st := range tasks {
		out[st.Name] = st
	}
	return out
}

// waitFor polls cond every few milliseconds until it holds or limit
// passes, and reports whether it held.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkCounts checks that the statistics agree with themselves: every
// request is in the latency histogram, there are no more failures than
// requests, and the error messages count every failure.
func checkCounts(t testing.TB, st stats.Task) {
	t.Helper()
	if got := st.Latency.Count(); got != st.Requests {
		t.Errorf("task %q: latency histogram counts %d requests, want %d", st.Name, got, st.Requests)
	}
	if st.Failures > st.Requests {
		t.Errorf("task %q: %d failures exceed %d requests", st.Name, st.Failures, st.Requests)
	}
	var errorSum uint64
	for _, n := range st.Errors {
		errorSum += n
	}
	if errorSum != st.Failures {
		t.Errorf("task %q: error messages count %d, want the %d failures", st.Name, errorSum, st.Failures)
	}
}
