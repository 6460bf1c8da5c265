//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
)

// churnUsers is the plan's users in the churn figure.
const churnUsers = 20

// churnResult is one run of the churn figure.
type churnResult struct {
	killToShare   time.Duration // SIGKILL of a worker to the survivor's share holding all users
	killToRunning time.Duration // SIGKILL to live statistics showing all users running
	startToFirst  time.Duration // start of a new worker's process to its first connection to the target
}

// churn measures how long users take to move when a worker dies, and how
// long a new worker takes from its start to its first request, with real
// coordinator and worker processes.
func (e *env) churn(ctx context.Context) (Section, error) {
	lease := coordinator.DefaultLease
	if e.cfg.Short {
		lease = 2 * time.Second
	}
	s := Section{Figure: "churn", Title: "Workers dying and joining"}
	s.Commands = append([]string{e.command("churn")}, e.fleetCommands("churn", loadCore, 0, "--lease", lease.String())...)
	s.Commands = append(s.Commands, "# PLAN.yaml:\n"+commentLines(churnPlan(e.target.url)))

	var runLoads []float64
	var share, running, first series
	for run := 1; run <= e.cfg.Runs; run++ {
		load := loadAverage()
		runLoads = append(runLoads, load)
		fmt.Fprintf(e.log, "bench: churn run %d of %d (load average %.2f)\n", run, e.cfg.Runs, load)
		r, err := e.churnRun(ctx, lease)
		if err != nil {
			return s, err
		}
		share = append(share, r.killToShare.Seconds())
		running = append(running, r.killToRunning.Seconds())
		first = append(first, r.startToFirst.Seconds())
	}
	t := Table{Header: []string{"event", "seconds: min", "median", "max"}}
	add := func(name string, v series) {
		lo, mid, hi := v.spread(fixed(3))
		t.addRow(name, lo, mid, hi)
	}
	add("SIGKILL of a worker → its users assigned to the other worker", share)
	add("SIGKILL of a worker → live statistics show all users running", running)
	add("start of a new worker's process → its first request", first)
	s.Tables = []Table{t}
	s.Conditions = []string{
		fmt.Sprintf("%d users on two worker processes, lease %s, reports every second. "+
			"The assignment time is when the NATS server delivered the surviving worker's new share to a watcher of its key. "+
			"Live statistics are published once a second, so that row is late by up to a second. "+
			"The first request is when the new worker's first TCP connection to nginx appeared in /proc, polled every 2 ms; it opens that connection to send the request.",
			churnUsers, lease),
		loadNote(runLoads),
	}
	return s, nil
}

func churnPlan(target string) string {
	return fmt.Sprintf(`name: churn
target: %s
users: %d
spawn_rate: 1000
duration: 2m
max_rps: 200
workers:
  min: 2
tasks:
  - name: home
    url: /
`, target, churnUsers)
}

func (e *env) churnRun(ctx context.Context, lease time.Duration) (churnResult, error) {
	var res churnResult
	f, err := e.startFleet(ctx, "churn", churnPlan(e.target.url), targetCore, "--lease", lease.String())
	if err != nil {
		return res, err
	}
	defer f.coordinator.kill()
	live, err := f.watch(ctx, "summary")
	if err != nil {
		return res, err
	}
	defer live.close()
	a, err := f.startWorker(ctx, loadCore, 0, "churn-a")
	if err != nil {
		return res, err
	}
	defer a.kill()
	b, err := f.startWorker(ctx, loadCore, 0, "churn-b")
	if err != nil {
		return res, err
	}
	defer b.kill()
	if _, _, err := waitFor(ctx, live, time.Time{}, time.Minute, func(l coordinator.Live) bool {
		return l.Users == churnUsers && l.Workers == 2
	}); err != nil {
		return res, fmt.Errorf("waiting for %d users on two workers: %w", churnUsers, err)
	}

	js, err := jetstream.New(live.nc)
	if err != nil {
		return res, err
	}
	kv, err := js.KeyValue(ctx, bus.Bucket)
	if err != nil {
		return res, fmt.Errorf("open bucket %s: %w", bus.Bucket, err)
	}
	watcher, err := kv.Watch(ctx, bus.ShareKey(f.run, "churn-b"), jetstream.UpdatesOnly())
	if err != nil {
		return res, fmt.Errorf("watch the share of churn-b: %w", err)
	}
	defer watcher.Stop()

	killed := time.Now()
	a.kill()
	deadline := time.After(lease + 30*time.Second)
	for moved := false; !moved; {
		select {
		case entry := <-watcher.Updates():
			var as bus.Assignment
			if entry != nil && json.Unmarshal(entry.Value(), &as) == nil && as.Share.Users == churnUsers {
				res.killToShare = time.Since(killed)
				moved = true
			}
		case <-deadline:
			return res, fmt.Errorf("churn-b was not given all %d users within %s of the SIGKILL of churn-a", churnUsers, lease+30*time.Second)
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	at, _, err := waitFor(ctx, live, killed.Add(res.killToShare), 30*time.Second, func(l coordinator.Live) bool {
		return l.Users == churnUsers
	})
	if err != nil {
		return res, fmt.Errorf("waiting for %d users after the SIGKILL: %w", churnUsers, err)
	}
	res.killToRunning = at.Sub(killed)

	port, err := portOf(e.target.url)
	if err != nil {
		return res, err
	}
	started := time.Now()
	c, err := f.startWorker(ctx, loadCore, 0, "churn-c")
	if err != nil {
		return res, err
	}
	defer c.kill()
	connected, err := waitConnection(ctx, c.pid(), port, 30*time.Second)
	if err != nil {
		return res, fmt.Errorf("new worker: %w; its output:\n%s", err, c.tail())
	}
	res.startToFirst = connected.Sub(started)

	f.stop()
	if _, err := f.wait(time.Minute); err != nil {
		return res, err
	}
	return res, nil
}

// portOf returns the port of an http URL with one.
func portOf(raw string) (int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Port())
}

// waitConnection polls every 2 ms, up to timeout, until process pid has a
// TCP connection to port on loopback, and returns when it first saw one.
func waitConnection(ctx context.Context, pid, port int, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	for {
		now := time.Now()
		if connectedTo(pid, port) {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("no connection to port %d within %s", port, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// connectedTo reports whether process pid holds a TCP socket whose remote
// port is port, from /proc/PID/fd and /proc/net/tcp.
func connectedTo(pid, port int) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	inodes := make(map[string]bool)
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return false
	}
	suffix := fmt.Sprintf(":%04X", port)
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fields) < 10 || !strings.HasSuffix(fields[2], suffix) {
			continue
		}
		if inodes[fields[9]] {
			return true
		}
	}
	return false
}
