package testutil

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Route sets how a Target responds to requests for one path. The zero
// value responds with 200 at once.
type Route struct {
	// Delay is how long the target waits before it responds.
	Delay time.Duration
	// Status is the response status, or 0 for 200.
	Status int
}

// Target is an HTTP server on a loopback port that counts the requests it
// receives, per path. A request is counted when it arrives, before any
// delay. Its methods are safe for concurrent use.
type Target struct {
	// URL is the base URL, such as http://127.0.0.1:41234.
	URL string

	routes map[string]Route

	mu       sync.Mutex
	counts   map[string]int64
	total    int64
	arrivals []time.Time // the first maxArrivals arrival times
}

// maxArrivals bounds the arrival times a Target keeps.
const maxArrivals = 1 << 20

// NewTarget starts a target that responds to the paths in routes as their
// Route sets and to every other path with 200 at once. It closes when the
// test ends.
func NewTarget(t testing.TB, routes map[string]Route) *Target {
	t.Helper()
	tg := &Target{routes: routes, counts: make(map[string]int64)}
	srv := httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(srv.Close)
	tg.URL = srv.URL
	return tg
}

func (tg *Target) serve(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	tg.counts[r.URL.Path]++
	tg.total++
	if len(tg.arrivals) < maxArrivals {
		tg.arrivals = append(tg.arrivals, time.Now())
	}
	tg.mu.Unlock()

	route := tg.routes[r.URL.Path]
	if route.Delay > 0 {
		timer := time.NewTimer(route.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	status := route.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write([]byte("ok\n"))
}

// Count returns how many requests for path arrived so far.
func (tg *Target) Count(path string) int64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.counts[path]
}

// Total returns how many requests arrived so far, for any path.
func (tg *Target) Total() int64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.total
}

// Arrivals returns when requests arrived, in order, up to the first
// million.
func (tg *Target) Arrivals() []time.Time {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]time.Time(nil), tg.arrivals...)
}
