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

// engineCost runs the Go benchmarks of the hot paths: BenchmarkRequest
// against nginx, for the engine's CPU time and allocations per request,
// and the others as they are. They are not pinned: one request at a time
// pinned to a core that other programs use waited for that core at every
// response, and took ten times the CPU time per request here.
func (e *env) engineCost(ctx context.Context) (Section, error) {
	s := Section{Figure: "engine", Title: "Go benchmarks of the hot paths"}
	benchtime := "1s"
	if e.cfg.Short {
		benchtime = "100ms"
	}
	count := strconv.Itoa(e.cfg.Runs)
	request := []string{"go", "test", "-run", "^$", "-bench", "^BenchmarkRequest$", "-benchmem",
		"-count", count, "-benchtime", benchtime, "./internal/engine"}
	others := []string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem",
		"-count", count, "-benchtime", benchtime}
	others = append(others, hotPathPackages...)
	s.Commands = []string{
		e.command("engine"),
		"BARRAGE_BENCH_TARGET=" + e.target.url + " " + shellJoin(request),
		shellJoin(others),
	}

	load := loadAverage()
	fmt.Fprintf(e.log, "bench: BenchmarkRequest against nginx (load average %.2f)\n", load)
	against, err := e.goBench(ctx, []string{"BARRAGE_BENCH_TARGET=" + e.target.url}, request)
	if err != nil {
		return s, err
	}
	load2 := loadAverage()
	fmt.Fprintf(e.log, "bench: hot-path benchmarks (load average %.2f)\n", load2)
	all, err := e.goBench(ctx, nil, others)
	if err != nil {
		return s, err
	}

	t := Table{Header: []string{"benchmark", "ns/op: min", "median", "max", "other figures (median)"}}
	addRows := func(results []benchResult, suffix string) {
		for _, r := range results {
			lo, mid, hi := r.nsPerOp.spread(fixed(1))
			t.addRow(r.name+suffix, lo, mid, hi, r.extras())
		}
	}
	addRows(against, " (against nginx)")
	addRows(all, "")
	s.Tables = []Table{t}
	s.Conditions = []string{
		fmt.Sprintf("Each benchmark runs %s times for %s, on any core; nginx runs on core %d. "+
			"BenchmarkRequest sends one request at a time through a user, so ns/op is a round trip, and cpu-ns/op is the benchmark process's CPU time per request, user and system.",
			count, benchtime, targetCore),
		loadNote([]float64{load, load2}),
	}
	return s, nil
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

// goBench runs a go test -bench command in the module root and parses
// its results.
func (e *env) goBench(ctx context.Context, env, args []string) ([]benchResult, error) {
	p, err := e.pin.runIn(ctx, e.cfg.Root, 30*time.Minute, -1, env, args...)
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
