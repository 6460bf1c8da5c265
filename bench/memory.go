//go:build linux

package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/barrage-load/barrage/internal/coordinator"
)

const (
	// memorySpawnRate starts 50,000 users in 5 s.
	memorySpawnRate = 10000
	// memorySettle is how long the users stay idle before the RSS is
	// read: longer than the worker's 4 s limit on idle connections, so
	// that the connections of the ramp are closed by then.
	memorySettle = 10 * time.Second
	// memorySamples is how many times the RSS is read, a second apart;
	// the figure is their median.
	memorySamples = 5
)

// memory measures the RSS of a worker process whose users each sent one
// request and then think for an hour, minus the RSS of the same worker
// with one user, per user.
func (e *env) memory(ctx context.Context) (Section, error) {
	sizes := []int{1000, 10000, 50000}
	settle := memorySettle
	if e.cfg.Short {
		sizes = []int{100, 1000}
		settle = time.Second
	}
	s := Section{Figure: "memory", Title: "Memory per idle virtual user"}
	s.Commands = append([]string{e.command("memory")}, e.fleetCommands("memory-N", loadCore, 0)...)
	s.Commands = append(s.Commands, "# PLAN.yaml:\n"+commentLines(memoryPlan(e.target.url, 0)))

	var runLoads []float64
	base := series{}
	perUser := make(map[int]series)
	rss := make(map[int]series)
	for run := 1; run <= e.cfg.Runs; run++ {
		for _, users := range append([]int{1}, sizes...) {
			load := loadAverage()
			runLoads = append(runLoads, load)
			fmt.Fprintf(e.log, "bench: memory run %d of %d: %d users (load average %.2f)\n", run, e.cfg.Runs, users, load)
			bytes, err := e.idleRSS(ctx, users, settle)
			if err != nil {
				return s, fmt.Errorf("%d users: %w", users, err)
			}
			if users == 1 {
				base = append(base, float64(bytes))
				continue
			}
			rss[users] = append(rss[users], float64(bytes))
			perUser[users] = append(perUser[users], (float64(bytes)-base[len(base)-1])/float64(users)/1024)
		}
	}

	t := Table{Header: []string{"users", "worker RSS, MiB (median)", "KiB per user: min", "median", "max"}}
	mib := func(v float64) string { return fixed(1)(v / (1 << 20)) }
	t.addRow("1 (baseline)", mib(base.median()), "", "", "")
	for _, users := range sizes {
		lo, mid, hi := perUser[users].spread(fixed(2))
		t.addRow(thousands(float64(users)), mib(rss[users].median()), lo, mid, hi)
	}
	s.Tables = []Table{t}
	s.Conditions = append(s.Conditions,
		fmt.Sprintf("Each user sends one request to nginx, then thinks for an hour. The worker process runs alone on core %d; the coordinator and its embedded NATS server run in another process. Users start at %d per second; once all run and have sent their request, they stay idle for %s, and the worker's RSS (VmRSS of /proc/PID/status) is read %d times a second apart. KiB per user is the median of those readings minus the same median of a worker with 1 user in the same run, over the users.",
			loadCore, memorySpawnRate, settle, memorySamples),
		loadNote(runLoads))
	return s, nil
}

// memoryPlan returns the plan of the memory figure for users, or with
// N in place of the number when users is 0.
func memoryPlan(target string, users int) string {
	count := "N"
	if users > 0 {
		count = strconv.Itoa(users)
	}
	return fmt.Sprintf(`name: memory
target: %s
users: %s
spawn_rate: %d
duration: 10m
think_time: 1h
tasks:
  - name: home
    url: /
`, target, count, memorySpawnRate)
}

// idleRSS runs users idle users on one worker process and returns the
// median of the worker's RSS readings once they are all idle.
func (e *env) idleRSS(ctx context.Context, users int, settle time.Duration) (int64, error) {
	run := "memory-" + strconv.Itoa(users)
	f, err := e.startFleet(ctx, run, memoryPlan(e.target.url, users), targetCore)
	if err != nil {
		return 0, err
	}
	defer f.coordinator.kill()
	live, err := f.watch(ctx, "summary")
	if err != nil {
		return 0, err
	}
	defer live.close()
	w, err := f.startWorker(ctx, loadCore, 0, "")
	if err != nil {
		return 0, err
	}
	defer w.kill()

	ramp := time.Duration(float64(users)/memorySpawnRate*float64(time.Second)) + time.Minute
	_, _, err = waitFor(ctx, live, time.Time{}, ramp, func(l coordinator.Live) bool {
		return l.Users == users && l.Requests >= uint64(users)
	})
	if err != nil {
		return 0, fmt.Errorf("waiting for %d users to send a request each: %w; worker output:\n%s", users, err, w.tail())
	}
	time.Sleep(settle)
	var readings series
	for i := range memorySamples {
		if i > 0 {
			time.Sleep(time.Second)
		}
		rss, err := procRSS(w.pid())
		if err != nil {
			return 0, fmt.Errorf("read the worker's RSS: %w", err)
		}
		readings = append(readings, float64(rss))
	}

	f.stop()
	sum, err := f.wait(time.Minute)
	if err != nil {
		return 0, err
	}
	if err := w.wait(30 * time.Second); err != nil {
		return 0, fmt.Errorf("worker: %w", err)
	}
	if sum.Requests < uint64(users) || sum.Failures > 0 {
		return 0, fmt.Errorf("the run sent %d requests with %d failures, want at least %d and none: %v",
			sum.Requests, sum.Failures, users, sum.Errors)
	}
	return int64(readings.median()), nil
}
