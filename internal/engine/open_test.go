package engine

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// within reports whether got is within frac of want.
func within(got, want int64, frac float64) bool {
	return math.Abs(float64(got-want)) <= frac*float64(want)
}

func TestOpenModelRateWithSlowTarget(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
rate: 100
duration: 2s
tasks:
  - name: slow
    url: /slow?delay=300ms
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())

	// 100 arrivals a second for 2 s, each served in 300 ms: a closed
	// model would need 30 users to keep up.
	if n := tg.count("/slow"); !within(n, 200, 0.02) {
		t.Errorf("target received %d requests, want 200 within 2%%", n)
	}
	if got.Requests != uint64(tg.count("/slow")) {
		t.Errorf("statistics count %d requests, the target %d", got.Requests, tg.count("/slow"))
	}
	if d := e.TakeDropped(); d != 0 {
		t.Errorf("%d arrivals dropped with users defaulting to rate times timeout", d)
	}
	checkCounts(t, got)
	if got.Service.Count() != got.Requests {
		t.Errorf("service histogram counts %d requests, want %d", got.Service.Count(), got.Requests)
	}
	if p50 := got.Service.Quantile(0.5); p50 < 300*time.Millisecond || p50 > time.Second {
		t.Errorf("service time p50 = %v, want about 300ms", p50)
	}
}

func TestOpenModelDroppedArrivals(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
rate: 100
users: 5
duration: 2s
tasks:
  - name: slow
    url: /slow?delay=300ms
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())
	dropped := e.TakeDropped()

	// 5 users that each wait 300 ms for a response can take about 17 arrivals a second of
	// the 100 due.
	sent := tg.count("/slow")
	if int64(got.Requests) != sent {
		t.Errorf("statistics count %d requests, the target %d", got.Requests, sent)
	}
	if sent > 45 {
		t.Errorf("target received %d requests from 5 users of 300 ms in 2 s, want at most 45", sent)
	}
	if !within(sent+int64(dropped), 200, 0.02) {
		t.Errorf("%d sent and %d dropped add up to %d arrivals, want 200 within 2%%", sent, dropped, sent+int64(dropped))
	}
	if e.TakeDropped() != 0 {
		t.Error("TakeDropped did not start again from 0")
	}
}

func TestOpenModelLatencyFromScheduledStart(t *testing.T) {
	// The target responds at once, except that it stalls for 2 s in the
	// middle of the run. Arrivals keep coming during the stall, and their
	// latency counts from when they were due.
	var stalled atomic.Bool
	release := make(chan struct{})
	var once sync.Once
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		if stalled.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	go func() {
		time.Sleep(time.Second)
		stalled.Store(true)
		time.Sleep(2 * time.Second)
		stalled.Store(false)
		once.Do(func() { close(release) })
	}()
	defer once.Do(func() { close(release) })

	p := parsePlan(t, `
target: %s
rate: 100
users: 1000
duration: 4s
tasks:
  - name: home
    url: /
`, srv.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())

	if int64(got.Requests) != count.Load() {
		t.Errorf("statistics count %d requests, the target %d", got.Requests, count.Load())
	}
	// About 200 of 400 arrivals fall into the stall and wait up to 2 s,
	// so the 90th percentile is about 1.6 s.
	if p90 := got.Latency.Quantile(0.9); p90 < time.Second {
		t.Errorf("latency p90 = %v, want the 2 s stall to show", p90)
	}
	if max := got.Latency.Max(); max < 1800*time.Millisecond {
		t.Errorf("latency max = %v, want about 2s", max)
	}
	if e.TakeDropped() != 0 {
		t.Error("arrivals dropped with 1000 users")
	}
}

func TestOpenModelLimiterWaitInLatency(t *testing.T) {
	// max_rps lets half the arrivals through at once: the others wait for
	// the limiter, which the latency shows and the service time does not.
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
rate: 100
max_rps: 50
users: 1000
duration: 1s
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())

	latency, service := got.Latency.Quantile(0.9), got.Service.Quantile(0.9)
	if latency < 300*time.Millisecond || service > 100*time.Millisecond {
		t.Errorf("p90 latency %v and service time %v; want the limiter's wait in the latency only", latency, service)
	}
	if int64(got.Requests) != tg.count("/home") {
		t.Errorf("statistics count %d requests, the target %d", got.Requests, tg.count("/home"))
	}
}

func TestOpenModelRateStages(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
stages:
  - {duration: 1s, rate: 100}
  - {duration: 1s, rate: 100}
  - {duration: 1s, rate: 0}
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)

	// The ramps add 50 arrivals each and the flat stage 100.
	if n := tg.count("/home"); !within(n, 200, 0.03) {
		t.Errorf("target received %d requests, want 200 within 3%%", n)
	}
	arrivals := tg.arrivalTimes()
	if len(arrivals) < 10 {
		t.Fatalf("only %d arrivals", len(arrivals))
	}
	first, last := arrivals[0], arrivals[len(arrivals)-1]
	var early, middle int
	for _, a := range arrivals {
		switch d := a.Sub(first); {
		case d < 500*time.Millisecond:
			early++
		case d >= time.Second && d < 1500*time.Millisecond:
			middle++
		}
	}
	// The first half second of the ramp holds a quarter of its 50
	// arrivals, the flat stage's half second 50.
	if early > 25 || middle < 40 {
		t.Errorf("%d arrivals in the first 500ms and %d in the flat stage's first 500ms, want about 12 and 50", early, middle)
	}
	if span := last.Sub(first); span > 3*time.Second {
		t.Errorf("arrivals span %v, want under 3s", span)
	}
}

func TestOpenModelIterationsExact(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
rate: 500
duration: 1m
iterations: 123
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	if elapsed := runEngine(t, e); elapsed > 10*time.Second {
		t.Errorf("Run took %v, want it to end after the iterations", elapsed)
	}
	if n := tg.count("/home"); n != 123 {
		t.Errorf("target received %d requests, want 123", n)
	}
	if n := e.Users(); n != 0 {
		t.Errorf("Users() = %d after Run, want 0", n)
	}
}

func TestOpenModelJoinsRunLate(t *testing.T) {
	// A share that starts 1 s into a ramp from 0 to 100 over 2 s starts at
	// 50 arrivals a second, not at 0.
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
stages:
  - {duration: 2s, rate: 100}
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e, err := New(p, onlyShare(p), Options{Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runEngine(t, e)
	// From 50 to 100 over 1 s: 75 arrivals.
	if n := tg.count("/home"); !within(n, 75, 0.05) {
		t.Errorf("target received %d requests, want 75 within 5%%", n)
	}
}
