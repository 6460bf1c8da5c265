//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// loadResult is the outcome of one load generator in one run.
type loadResult struct {
	requests uint64
	failures uint64
	cpu      time.Duration // user plus system time of the load generator
}

// generator is a load generator of the throughput figure.
type generator struct {
	name    string
	version string
	// command is the command line shown with the figure.
	command string
	run     func(ctx context.Context) (loadResult, error)
}

// throughput measures requests per second of one Barrage worker on
// loadCore against nginx on targetCore, and of wrk, vegeta, hey and Locust
// in the same place with the same connections and duration.
func (e *env) throughput(ctx context.Context) (Section, error) {
	s := Section{
		Figure: "throughput",
		Title:  "One worker on one core against nginx",
	}
	gens := e.generators(ctx)
	for _, t := range []tool{toolWrk, toolVegeta, toolHey, toolLocust} {
		if reason, ok := e.tools.missing[t.program]; ok {
			s.Notes = append(s.Notes, fmt.Sprintf("%s was skipped: %s.", t.name, reason))
		}
	}
	s.Commands = append(s.Commands, e.command("throughput",
		"-duration", e.cfg.Duration.String(), "-connections", strconv.Itoa(e.cfg.Connections)))
	for _, g := range gens {
		s.Commands = append(s.Commands, g.command)
	}

	rates := make(map[string]series)
	cpus := make(map[string]series)
	var runLoads []float64
	perRun := Table{Header: []string{"run", "load average at start", "tool", "requests", "failures", "requests per second"}}
	for run := 1; run <= e.cfg.Runs; run++ {
		for _, g := range gens {
			load := loadAverage()
			runLoads = append(runLoads, load)
			fmt.Fprintf(e.log, "bench: throughput run %d of %d: %s (load average %.2f)\n", run, e.cfg.Runs, g.name, load)
			r, err := g.run(ctx)
			if err != nil {
				return s, fmt.Errorf("%s: %w", g.name, err)
			}
			rps := float64(r.requests) / e.cfg.Duration.Seconds()
			rates[g.name] = append(rates[g.name], rps)
			if r.requests > 0 {
				cpus[g.name] = append(cpus[g.name], float64(r.cpu.Microseconds())/float64(r.requests))
			}
			perRun.addRow(strconv.Itoa(run), fixed(2)(load), g.name, thousands(float64(r.requests)),
				thousands(float64(r.failures)), thousands(rps))
		}
	}

	summary := Table{Header: []string{"tool", "version", "min", "median", "max", "Barrage / tool", "CPU µs per request"}}
	ours := rates["Barrage worker"].median()
	for _, g := range gens {
		lo, mid, hi := rates[g.name].spread(thousands)
		summary.addRow(g.name, g.version, lo, mid, hi, ratio(ours, rates[g.name].median()), fixed(1)(cpus[g.name].median()))
	}
	s.Tables = []Table{summary, perRun}
	s.Conditions = append(s.Conditions,
		fmt.Sprintf("%d runs of %s, %d connections or users. nginx serves a %d-byte response on core %d; each tool runs alone on core %d (GOMAXPROCS=1 for the Go tools).",
			e.cfg.Runs, e.cfg.Duration, e.cfg.Connections, len(targetBody), targetCore, loadCore),
		"Requests per second are the requests completed over the configured duration. CPU µs per request is the load generator's user and system time, as the kernel accounts it at exit, over its requests.",
		loadNote(runLoads))
	if e.pinNote != "" {
		s.Notes = append(s.Notes, e.pinNote+".")
	}
	return s, nil
}

// generators returns the load generators that are present, Barrage first.
func (e *env) generators(ctx context.Context) []generator {
	d := e.cfg.Duration
	conns := e.cfg.Connections
	url := e.target.url + "/"
	secs := strconv.Itoa(int(d.Seconds())) + "s"
	gens := []generator{e.barrageGenerator()}

	if path := e.tools.path(toolWrk); path != "" {
		args := []string{path, "-t1", "-c" + strconv.Itoa(conns), "-d" + secs, url}
		gens = append(gens, generator{
			name: "wrk", version: versionOf(ctx, "wrk") + " (Debian)",
			command: shellJoin(e.display(e.pin.command(loadCore, args...))),
			run:     func(ctx context.Context) (loadResult, error) { return e.runWrk(ctx, args) },
		})
	}
	if path := e.tools.path(toolVegeta); path != "" {
		out := e.scratch("vegeta.bin")
		args := []string{path, "attack", "-rate", "0", "-max-workers", strconv.Itoa(conns),
			"-workers", strconv.Itoa(conns), "-duration", secs, "-output", out,
			"-targets", e.scratch("vegeta-targets.txt")}
		gens = append(gens, generator{
			name: "vegeta", version: VegetaVersion,
			command: "GOMAXPROCS=1 " + shellJoin(e.display(e.pin.command(loadCore, args...))) + " # targets: GET " + url,
			run:     func(ctx context.Context) (loadResult, error) { return e.runVegeta(ctx, path, args, url, out) },
		})
	}
	if path := e.tools.path(toolHey); path != "" {
		args := []string{path, "-z", secs, "-c", strconv.Itoa(conns), "-cpus", "1", url}
		gens = append(gens, generator{
			name: "hey", version: versionOf(ctx, "hey") + " (Debian)",
			command: "GOMAXPROCS=1 " + shellJoin(e.display(e.pin.command(loadCore, args...))),
			run:     func(ctx context.Context) (loadResult, error) { return e.runHey(ctx, args) },
		})
	}
	if path := e.tools.path(toolLocust); path != "" {
		file := e.scratch("locustfile.py")
		// Locust starts its users at the spawn rate. Starting all 50
		// over the first second gave more requests per second here than
		// starting them at once, which Locust warns against.
		args := []string{path, "-f", file, "--headless", "--users", strconv.Itoa(conns),
			"--spawn-rate", strconv.Itoa(conns), "--run-time", secs, "--host", e.target.url,
			"--only-summary", "--loglevel", "WARNING"}
		gens = append(gens, generator{
			name: "Locust", version: versionOf(ctx, "python3-locust") + " (Debian), FastHttpUser",
			command: shellJoin(e.display(e.pin.command(loadCore, args...))),
			run:     func(ctx context.Context) (loadResult, error) { return e.runLocust(ctx, args, file) },
		})
	}
	return gens
}

// barrageGenerator runs a coordinator with its embedded NATS server on
// targetCore, beside nginx, and one worker process alone on loadCore.
func (e *env) barrageGenerator() generator {
	d := e.cfg.Duration
	plan := fmt.Sprintf(`name: throughput
target: %s
users: %d
spawn_rate: %d
duration: %s
tasks:
  - name: home
    url: /
`, e.target.url, e.cfg.Connections, e.cfg.Connections*100, d)
	g := generator{name: "Barrage worker", version: e.barrageVersion()}
	g.command = strings.Join(e.fleetCommands("throughput", loadCore, 1), "\n") + "\n# PLAN.yaml:\n" + commentLines(plan)
	g.run = func(ctx context.Context) (loadResult, error) {
		f, err := e.startFleet(ctx, "throughput", plan, targetCore)
		if err != nil {
			return loadResult{}, err
		}
		w, err := f.startWorker(ctx, loadCore, 1, "")
		if err != nil {
			f.coordinator.kill()
			return loadResult{}, err
		}
		sum, err := f.wait(d + time.Minute)
		if werr := w.wait(30 * time.Second); err == nil && werr != nil {
			err = fmt.Errorf("worker: %w", werr)
		}
		if err != nil {
			return loadResult{}, err
		}
		user, sys := w.cpu()
		return loadResult{requests: sum.Requests, failures: sum.Failures, cpu: user + sys}, nil
	}
	return g
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)
var wrkErrors = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)

func (e *env) runWrk(ctx context.Context, args []string) (loadResult, error) {
	p, err := e.pin.run(ctx, e.cfg.Duration+time.Minute, loadCore, nil, args...)
	if err != nil {
		return loadResult{}, err
	}
	out := p.text()
	m := wrkRequests.FindStringSubmatch(out)
	if m == nil {
		return loadResult{}, fmt.Errorf("no request count in wrk's output:\n%s", out)
	}
	r := loadResult{requests: parseUint(m[1])}
	if m := wrkErrors.FindStringSubmatch(out); m != nil {
		r.failures = parseUint(m[1])
	}
	if strings.Contains(out, "Socket errors") {
		fmt.Fprintf(e.log, "bench: wrk reported socket errors:\n%s\n", out)
	}
	user, sys := p.cpu()
	r.cpu = user + sys
	return r, nil
}

func (e *env) runVegeta(ctx context.Context, path string, args []string, url, out string) (loadResult, error) {
	if err := os.WriteFile(e.scratch("vegeta-targets.txt"), []byte("GET "+url+"\n"), 0o644); err != nil {
		return loadResult{}, err
	}
	p, err := e.pin.run(ctx, e.cfg.Duration+time.Minute, loadCore, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return loadResult{}, err
	}
	report, err := e.pin.run(ctx, time.Minute, -1, nil, path, "report", "-type", "json", out)
	if err != nil {
		return loadResult{}, err
	}
	var metrics struct {
		Requests uint64  `json:"requests"`
		Success  float64 `json:"success"`
	}
	if err := json.Unmarshal([]byte(report.text()), &metrics); err != nil {
		return loadResult{}, fmt.Errorf("read vegeta report: %w\n%s", err, report.text())
	}
	success := uint64(float64(metrics.Requests)*metrics.Success + 0.5)
	user, sys := p.cpu()
	return loadResult{requests: success, failures: metrics.Requests - success, cpu: user + sys}, nil
}

var heyResponses = regexp.MustCompile(`\[(\d{3})\]\s+(\d+) responses`)

func (e *env) runHey(ctx context.Context, args []string) (loadResult, error) {
	p, err := e.pin.run(ctx, e.cfg.Duration+time.Minute, loadCore, []string{"GOMAXPROCS=1"}, args...)
	if err != nil {
		return loadResult{}, err
	}
	var r loadResult
	for _, m := range heyResponses.FindAllStringSubmatch(p.text(), -1) {
		n := parseUint(m[2])
		if m[1][0] >= '4' {
			r.failures += n
		}
		r.requests += n
	}
	if r.requests == 0 {
		return r, fmt.Errorf("no responses in hey's output:\n%s", p.text())
	}
	user, sys := p.cpu()
	r.cpu = user + sys
	return r, nil
}

// locustfile is a Locust user that sends GET / back to back over
// Locust's fastest client, FastHttpUser.
const locustfile = `from locust import FastHttpUser, constant, task


class Bench(FastHttpUser):
    wait_time = constant(0)

    @task
    def home(self):
        self.client.get("/")
`

// locustTotal matches the first Aggregated row that Locust prints at
// exit: requests, then failures.
var locustTotal = regexp.MustCompile(`(?m)^\s*Aggregated\s+(\d+)\s+(\d+)\(`)

// runLocust runs Locust and reads the totals it prints at exit. The CSV
// file of --csv is not used: Locust 2.12 rewrites it once a second and not
// at exit, so it misses up to the last second of the run.
func (e *env) runLocust(ctx context.Context, args []string, file string) (loadResult, error) {
	if err := os.WriteFile(file, []byte(locustfile), 0o644); err != nil {
		return loadResult{}, err
	}
	p, err := e.pin.run(ctx, e.cfg.Duration+time.Minute, loadCore, nil, args...)
	if err != nil {
		return loadResult{}, err
	}
	m := locustTotal.FindStringSubmatch(p.text())
	if m == nil {
		return loadResult{}, fmt.Errorf("no Aggregated totals in Locust's output:\n%s", p.tail())
	}
	user, sys := p.cpu()
	return loadResult{requests: parseUint(m[1]), failures: parseUint(m[2]), cpu: user + sys}, nil
}

func parseUint(s string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	return n
}
