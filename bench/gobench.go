//go:build linux

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// hotPathPackages are the packages whose Go benchmarks the engine figure
// runs: the request path, statistics, histograms, report codecs and the
// coordinator's merge.
var hotPathPackages = []string{"./internal/engine", "./internal/histogram", "./internal/bus", "./internal/coordinator"}

// engineCost runs the Go benchmarks of the hot paths. BenchmarkFiftyUsers
// runs against nginx on loadCore, like the worker of the throughput
// figure, for the engine's CPU time and allocations per request, and a CPU
// profile of it shows where the time goes. The others run as they are,
// with BenchmarkRequest against a server in its own process.
// BenchmarkRequest is not run against nginx: one request at a time spent
// from 9 to 49 µs of CPU time per request here, most of it the Go
// scheduler looking for work while the response was on its way.
func (e *env) engineCost(ctx context.Context) (Section, error) {
	s := Section{Figure: "engine", Title: "Go benchmarks of the hot paths"}
	benchtime := "1s"
	if e.cfg.Short {
		benchtime = "100ms"
	}
	count := strconv.Itoa(e.cfg.Runs)
	targetEnv := []string{"BARRAGE_BENCH_TARGET=" + e.target.url}
	users := []string{"go", "test", "-run", "^$", "-bench", "^BenchmarkFiftyUsers$", "-benchmem",
		"-count", count, "-benchtime", benchtime, "./internal/engine"}
	profileArgs := []string{"go", "test", "-run", "^$", "-bench", "^BenchmarkFiftyUsers$",
		"-benchtime", "3s", "-cpuprofile", e.scratch("cpu.prof"), "-o", e.scratch("engine.test"), "./internal/engine"}
	others := []string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", count, "-benchtime", benchtime}
	others = append(others, hotPathPackages...)
	s.Commands = []string{
		e.command("engine"),
		targetEnv[0] + " GOMAXPROCS=1 " + shellJoin(e.display(e.pin.command(loadCore, users...))),
		shellJoin(others),
	}

	var runLoads []float64
	step := func(name string) {
		load := loadAverage()
		runLoads = append(runLoads, load)
		fmt.Fprintf(e.log, "bench: %s (load average %.2f)\n", name, load)
	}
	step("BenchmarkFiftyUsers against nginx")
	fifty, err := e.goBench(ctx, loadCore, append(targetEnv, "GOMAXPROCS=1"), users)
	if err != nil {
		return s, err
	}
	step("hot-path benchmarks")
	all, err := e.goBench(ctx, -1, nil, others)
	if err != nil {
		return s, err
	}

	t := Table{Header: []string{"benchmark", "ns/op: min", "median", "max", "other figures (median)"}}
	addRows := func(results []benchResult, suffix string) {
		for _, r := range results {
			lo, mid, hi := r.nsPerOp.spread(nanoseconds)
			t.addRow(r.name+suffix, lo, mid, hi, r.extras())
		}
	}
	addRows(fifty, " (against nginx, one core)")
	addRows(all, "")
	s.Tables = []Table{t}
	s.Conditions = []string{
		fmt.Sprintf("Each benchmark runs %s times for %s; nginx runs on core %d. "+
			"BenchmarkFiftyUsers runs 50 users on core %d with GOMAXPROCS=1, so its ns/op against nginx is the inverse of its requests per second. "+
			"The other benchmarks run on any core. BenchmarkRequest sends one request at a time through a user to a fasthttp server in the same process, so its ns/op is a round trip. "+
			"cpu-ns/op is the benchmark process's CPU time per request, user and system, the server's included when it runs in the process.",
			count, benchtime, targetCore, loadCore),
	}

	if !e.cfg.Short {
		step("CPU profile of BenchmarkFiftyUsers")
		top, err := e.profile(ctx, append(targetEnv, "GOMAXPROCS=1"), profileArgs)
		if err != nil {
			return s, err
		}
		s.Commands = append(s.Commands,
			targetEnv[0]+" GOMAXPROCS=1 "+shellJoin(e.display(e.pin.command(loadCore, profileArgs...))),
			"go tool pprof -top -nodecount 20 engine.test cpu.prof")
		s.Notes = append(s.Notes, "The CPU profile of BenchmarkFiftyUsers against nginx, by the time spent in each function itself:\n\n```\n"+top+"\n```")
	}
	s.Conditions = append(s.Conditions, loadNote(runLoads))
	return s, nil
}

// profile runs a go test -cpuprofile command on loadCore, and returns the
// functions of the profile that spent the most time themselves.
func (e *env) profile(ctx context.Context, env, args []string) (string, error) {
	if _, err := e.pin.runIn(ctx, e.cfg.Root, 10*time.Minute, loadCore, env, args...); err != nil {
		return "", err
	}
	p, err := e.pin.run(ctx, time.Minute, -1, nil, "go", "tool", "pprof", "-top", "-nodecount", "20",
		e.scratch("engine.test"), e.scratch("cpu.prof"))
	if err != nil {
		return "", err
	}
	// The header names the scratch files; the table starts at "flat".
	text := p.text()
	if i := strings.Index(text, "      flat"); i >= 0 {
		text = text[i:]
	}
	return strings.TrimRight(text, "\n"), nil
}

// benchResult is one Go benchmark over several counts.
type benchResult struct {
	name    string // package and benchmark, such as engine.BenchmarkRequest
	nsPerOp series
	metrics map[string]series // other units, such as allocs/op
	units   []string          // the order units first appeared in
}

// extras formats the medians of the units other than ns/op.
func (r benchResult) extras() string {
	var parts []string
	for _, unit := range r.units {
		v := r.metrics[unit].median()
		text := fixed(0)(v)
		if v < 100 && v != float64(int64(v)) {
			text = fixed(1)(v)
		}
		parts = append(parts, text+" "+unit)
	}
	return strings.Join(parts, ", ")
}

// goBench runs a go test -bench command on core (-1 for any) in the
// module root and parses its results.
func (e *env) goBench(ctx context.Context, core int, env, args []string) ([]benchResult, error) {
	p, err := e.pin.runIn(ctx, e.cfg.Root, 30*time.Minute, core, env, args...)
	if err != nil {
		return nil, err
	}
	results := parseBench(p.text())
	if len(results) == 0 {
		return nil, fmt.Errorf("no benchmark results in the output of %s:\n%s", strings.Join(args, " "), p.tail())
	}
	return results, nil
}

// parseBench reads the result lines of go test -bench, such as
//
//	BenchmarkRequest-1   125173   10547 ns/op   8972 cpu-ns/op   0 B/op   0 allocs/op
//
// and groups them by package and benchmark, in the order they appear.
func parseBench(output string) []benchResult {
	var results []benchResult
	index := make(map[string]int)
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = rest[strings.LastIndexByte(rest, '/')+1:]
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		if pkg != "" {
			name = pkg + "." + name
		}
		i, ok := index[name]
		if !ok {
			i = len(results)
			index[name] = i
			results = append(results, benchResult{name: name, metrics: make(map[string]series)})
		}
		r := &results[i]
		for j := 2; j+1 < len(fields); j += 2 {
			v, err := strconv.ParseFloat(fields[j], 64)
			if err != nil {
				continue
			}
			unit := fields[j+1]
			if unit == "ns/op" {
				r.nsPerOp = append(r.nsPerOp, v)
				continue
			}
			if _, seen := r.metrics[unit]; !seen {
				r.units = append(r.units, unit)
			}
			r.metrics[unit] = append(r.metrics[unit], v)
		}
	}
	return results
}

// goVersion returns the output of go version, such as go1.26.8.
func goVersion(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// nanoseconds formats a time per operation: whole nanoseconds with commas
// from 100 ns up, one decimal below.
func nanoseconds(v float64) string {
	if v >= 100 {
		return thousands(v)
	}
	return fixed(1)(v)
}
