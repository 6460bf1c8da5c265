package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestOpenAndClosedModelRates runs the same slow target with both
// models. It measures rates, so it does not run in parallel with other
// tests.
func TestOpenAndClosedModelRates(t *testing.T) {
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)

	tests := []struct {
		name  string
		load  string
		low   int64
		high  int64
		open  bool
		about string
	}{
		{
			name: "rate 100 sends 500 in 5 s",
			load: "rate: 100",
			low:  490, high: 510,
			open:  true,
			about: "100 a second for 5 s, within 2%",
		},
		{
			// Each of the 10 users waits 300 ms for every response, so they
			// send about 10 / 0.3 s = 33 requests a second.
			name: "10 users send about 170 in 5 s",
			load: "users: 10",
			low:  150, high: 175,
			about: "10 users at 300 ms each for 5 s, about 167",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testutil.NewTarget(t, map[string]testutil.Route{
				"/slow": {Delay: 300 * time.Millisecond},
			})
			run := fmt.Sprintf("open-model-%d", i)
			plan := testutil.WritePlan(t, fmt.Sprintf(`name: %s
target: %s
%s
duration: 5s
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: slow
    url: /slow
`, run, target.URL, tt.load))
			out := filepath.Join(t.TempDir(), "summary.json")

			workers := startWorkers(t, worker, nats.URL(), run, 2)
			coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
			if code := waitExit(t, coord, 5*time.Second+exitTimeout); code != 0 {
				t.Fatalf("coordinator exit code = %d, want 0\n%s", code, coord.Stderr())
			}
			checkWorkersExited(t, workers)

			s := readSummary(t, out)
			total := target.Total()
			t.Logf("target received %d requests", total)
			if total < tt.low || total > tt.high {
				t.Errorf("target received %d requests, want %d to %d: %s", total, tt.low, tt.high, tt.about)
			}
			if s.Requests != uint64(total) {
				t.Errorf("summary requests = %d, target received %d", s.Requests, total)
			}
			if tt.open != (s.ServiceMS != nil) {
				t.Errorf("summary service_ms = %+v for an open model %v", s.ServiceMS, tt.open)
			}
			if tt.open && (s.ServiceMS.P50 < 300 || s.LatencyMS.P50 < s.ServiceMS.P50) {
				t.Errorf("latency p50 %.1f ms and service time p50 %.1f ms, want both from 300 ms and latency not below service time",
					s.LatencyMS.P50, s.ServiceMS.P50)
			}
			if s.Dropped != 0 {
				t.Errorf("dropped_arrivals = %d, want 0", s.Dropped)
			}
		})
	}
}

func TestOpenModelDroppedArrivals(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := testutil.NewTarget(t, map[string]testutil.Route{
		"/slow": {Delay: 250 * time.Millisecond},
	})
	const run = "open-dropped"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: open-dropped
target: %s
rate: 100
users: 4
duration: 3s
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: slow
    url: /slow
`, target.URL))
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, 3*time.Second+exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0\n%s", code, coord.Stderr())
	}
	checkWorkersExited(t, workers)

	s := readSummary(t, out)
	total := target.Total()
	// 4 users busy for 250 ms each run at most 16 executions a second of
	// the 100 due; every other arrival is dropped.
	if s.Requests != uint64(total) {
		t.Errorf("summary requests = %d, target received %d", s.Requests, total)
	}
	if total > 60 {
		t.Errorf("target received %d requests, want at most 60 from 4 users", total)
	}
	arrivals := float64(s.Requests + s.Dropped)
	if math.Abs(arrivals-300) > 9 {
		t.Errorf("%d requests and %d dropped arrivals add up to %.0f, want 300 within 3%%", s.Requests, s.Dropped, arrivals)
	}
	if !strings.Contains(coord.Stdout(), fmt.Sprintf("dropped arrivals: %d", s.Dropped)) {
		t.Errorf("coordinator output does not show the %d dropped arrivals:\n%s", s.Dropped, coord.Stdout())
	}
}
