package engine

import (
	"context"
	"testing"
	"time"
)

func TestRunThinkTime(t *testing.T) {
	// 5 users that pause 200ms on average after each request send about
	// 5 * 2s / 200ms = 50 requests in 2s, plus the first request of each.
	tests := []struct {
		name      string
		thinkTime string
	}{
		{"fixed think time", "200ms"},
		{"think time range", "100ms..300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			p := parsePlan(t, `
target: %s
users: 5
spawn_rate: 1000
duration: 2s
think_time: %s
tasks:
  - name: home
    url: /home
`, tg.server.URL, tt.thinkTime)
			e := newEngine(t, p, onlyShare(p))

			runEngine(t, e)
			got := total(e.Collect())

			checkCounts(t, got)
			if n := tg.total.Load(); n < 35 || n > 60 {
				t.Errorf("target received %d requests, want 35 to 60", n)
			}
			if n := tg.total.Load(); uint64(n) != got.Requests {
				t.Errorf("target received %d requests, Collect counts %d", n, got.Requests)
			}
			if got.Failures != 0 {
				t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
			}
		})
	}
}

func TestRunTaskThinkTimeOverridesPlan(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 2
spawn_rate: 1000
duration: 1s
max_rps: 200
think_time: 10s
tasks:
  - name: quick
    url: /quick
    think_time: 0s
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))

	runEngine(t, e)

	// With the plan's 10s think time each user would send one request.
	if n := tg.count("/quick"); n < 100 {
		t.Errorf("target received %d requests, want about 200 at max_rps 200", n)
	}
}

func TestRunThinkTimeEndsWithRun(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 3
spawn_rate: 1000
duration: 1s
think_time: 10s
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))

	elapsed := runEngine(t, e)

	if elapsed > 1500*time.Millisecond {
		t.Errorf("Run took %v, want about the 1s duration", elapsed)
	}
	if n := tg.total.Load(); n != 3 {
		t.Errorf("target received %d requests, want 3, one per user", n)
	}
}

func TestThinkTimeEndsWhenUserStops(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 3
spawn_rate: 1000
duration: 1m
think_time: 10s
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startEngine(ctx, e)

	if !waitFor(5*time.Second, func() bool { return tg.total.Load() == 3 }) {
		t.Fatalf("target received %d requests in 5s, want 3", tg.total.Load())
	}
	s := e.Share()
	s.Users = 0
	e.Update(s)
	if !waitFor(time.Second, func() bool { return e.Users() == 0 }) {
		t.Errorf("%d users still run 1s after the share dropped to 0 users", e.Users())
	}

	cancel()
	waitRun(t, done, time.Now(), 5*time.Second)
}

func TestRunGracefulStop(t *testing.T) {
	tests := []struct {
		name         string
		gracefulStop string
		spawnRate    string
		delay        string
		wantElapsed  time.Duration // upper bound on Run's duration
		wantFailed   bool
	}{
		{
			// Requests start at once and would take 5s, so they time
			// out 500ms after the 1s run ends.
			name:         "slow requests time out after graceful stop",
			gracefulStop: "500ms",
			spawnRate:    "1000",
			delay:        "5s",
			wantElapsed:  1700 * time.Millisecond,
			wantFailed:   true,
		},
		{
			// The second user starts 800ms into the 1s run, so its 2s
			// request ends 1.8s after the run, within graceful stop.
			name:         "request started near the end finishes",
			gracefulStop: "3s",
			spawnRate:    "1.25",
			delay:        "2s",
			wantElapsed:  3500 * time.Millisecond,
			wantFailed:   false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			p := parsePlan(t, `
target: %s
users: 2
spawn_rate: %s
duration: 1s
timeout: 10s
graceful_stop: %s
tasks:
  - name: slow
    url: /slow?delay=%s
`, tg.server.URL, tt.spawnRate, tt.gracefulStop, tt.delay)
			e := newEngine(t, p, onlyShare(p))

			elapsed := runEngine(t, e)
			got := total(e.Collect())

			if elapsed > tt.wantElapsed {
				t.Errorf("Run took %v, want at most %v", elapsed, tt.wantElapsed)
			}
			checkCounts(t, got)
			if got.Requests != 2 {
				t.Errorf("Collect counts %d requests, want 2, one per user", got.Requests)
			}
			wantFailures := uint64(0)
			if tt.wantFailed {
				wantFailures = got.Requests
			}
			if got.Failures != wantFailures {
				t.Errorf("Collect counts %d failures, want %d: %v", got.Failures, wantFailures, got.Errors)
			}
			if n := got.Errors["request timed out"]; n != wantFailures {
				t.Errorf("Collect counts %d timeouts, want %d: %v", n, wantFailures, got.Errors)
			}
		})
	}
}

func TestRequestDeadlineAfterStop(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 1
duration: 1m
timeout: 10s
graceful_stop: 2s
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))

	start := time.Now()
	if got, want := e.requestDeadline(start), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("deadline before the end = %v after start, want the 10s timeout", got.Sub(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopWatching := e.watchEnd(ctx)
	defer stopWatching()
	cancel()
	if !waitFor(time.Second, func() bool { return e.requestLimit.Load() != 0 }) {
		t.Fatal("cancelling the run set no limit on requests")
	}

	got := e.requestDeadline(time.Now()).Sub(start)
	if got < 2*time.Second || got > 3*time.Second {
		t.Errorf("deadline after the stop = %v after start, want about the 2s graceful stop", got)
	}
}
