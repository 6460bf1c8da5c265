//go:build linux

// Package bench measures Barrage beside other load generators on one
// machine. Its figures are the requests per second of one worker on one
// core against nginx, next to wrk, vegeta, hey and Locust, and the
// engine's cost per request. They also cover the memory per idle virtual
// user, the coordinator's cost of merging reports, how fast users move
// when workers die or join, and how closely max_rps and the open model's
// rate are met. Every process runs on this machine and sends traffic to
// loopback only.
//
// The harness is Linux-only: it pins processes to cores with taskset,
// reads /proc, and installs the other tools with apt-get.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Figures lists the figures in the order they run.
var Figures = []string{"throughput", "engine", "memory", "merge", "churn", "rate"}

// Config sets up a run of the harness. The zero value of each field
// means its default.
type Config struct {
	// Runs is how many times each measurement is repeated; default 3,
	// and 1 in Short mode.
	Runs int
	// Duration is how long each load generator runs in the throughput
	// and rate figures; default 10 s, and 1 s in Short mode.
	Duration time.Duration
	// Connections is the number of connections, or users, of every load
	// generator in the throughput figure; default 50.
	Connections int
	// Figures selects figures by name from Figures; empty means all.
	Figures []string
	// Short runs a smoke of each figure in a few seconds, with smaller
	// sizes, and skips missing tools instead of installing them.
	Short bool
	// Root is the module's root directory, where the harness builds the
	// binaries and runs go test; empty means the current directory.
	Root string
	// CacheDir keeps vegeta between runs; empty means barrage-bench in
	// the user's cache directory.
	CacheDir string
	// Log receives progress; nil means os.Stderr.
	Log io.Writer
	// Invocation is the command line that started the harness, shown
	// above each figure; empty means a generic one.
	Invocation string
}

// env is the state that the figures share: binaries, tools, the target
// and the machine's layout.
type env struct {
	cfg     Config
	log     io.Writer
	dir     string // scratch directory, removed at the end
	pin     pinning
	pinNote string
	tools   *toolbox
	target  *nginx

	coordinator string // path of the coordinator binary
	worker      string // path of the worker binary
	helper      string // path of barrage-bench, for its helper modes
}

// Run measures the selected figures and returns one section each, in the
// order of Figures. A figure that fails is left out, the others are still
// measured, and the error names every figure that failed. ctx stops the
// run, and every process started is then killed.
func Run(ctx context.Context, cfg Config) ([]Section, error) {
	cfg = withDefaults(cfg)
	for _, f := range cfg.Figures {
		if !slices.Contains(Figures, f) {
			return nil, fmt.Errorf("unknown figure %q: use one or more of %s", f, strings.Join(Figures, ", "))
		}
	}
	e, err := setUp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer e.tearDown()

	var sections []Section
	var failed []error
	for _, name := range Figures {
		if !slices.Contains(cfg.Figures, name) {
			continue
		}
		if ctx.Err() != nil {
			failed = append(failed, fmt.Errorf("figure %s: %w", name, ctx.Err()))
			continue
		}
		fmt.Fprintf(e.log, "bench: figure %s (load average %.2f)\n", name, loadAverage())
		start := time.Now()
		s, err := e.figure(ctx, name)
		if err != nil {
			fmt.Fprintf(e.log, "bench: figure %s failed: %v\n", name, err)
			failed = append(failed, fmt.Errorf("figure %s: %w", name, err))
			continue
		}
		fmt.Fprintf(e.log, "bench: figure %s took %s\n", name, time.Since(start).Round(time.Second))
		sections = append(sections, s)
	}
	return sections, errors.Join(failed...)
}

func withDefaults(cfg Config) Config {
	if cfg.Runs <= 0 {
		cfg.Runs = 3
		if cfg.Short {
			cfg.Runs = 1
		}
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
		if cfg.Short {
			cfg.Duration = time.Second
		}
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 50
	}
	if len(cfg.Figures) == 0 {
		cfg.Figures = Figures
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		cfg.CacheDir = filepath.Join(base, "barrage-bench")
	}
	if cfg.Invocation == "" {
		cfg.Invocation = "go run ./bench/cmd/barrage-bench"
	}
	return cfg
}

func (e *env) figure(ctx context.Context, name string) (Section, error) {
	switch name {
	case "throughput":
		return e.throughput(ctx)
	case "engine":
		return e.engineCost(ctx)
	case "memory":
		return e.memory(ctx)
	case "merge":
		return e.merge(ctx)
	case "churn":
		return e.churn(ctx)
	case "rate":
		return e.rateAccuracy(ctx)
	}
	return Section{}, fmt.Errorf("unknown figure %q", name)
}

// setUp finds or installs the tools, builds Barrage and starts nginx.
func setUp(ctx context.Context, cfg Config) (*env, error) {
	e := &env{cfg: cfg, log: cfg.Log}
	e.pin, e.pinNote = newPinning()
	if e.pinNote != "" {
		fmt.Fprintf(e.log, "bench: %s\n", e.pinNote)
	}
	dir, err := os.MkdirTemp("", "barrage-bench-")
	if err != nil {
		return nil, fmt.Errorf("create scratch directory: %w", err)
	}
	e.dir = dir

	e.tools = findTools(ctx, e.log, cfg.CacheDir, !cfg.Short, e.neededTools()...)
	for _, t := range []tool{toolNginx, toolWrk, toolHey, toolVegeta, toolLocust} {
		if reason, ok := e.tools.missing[t.program]; ok {
			fmt.Fprintf(e.log, "bench: skipping %s: %s\n", t.name, reason)
		}
	}
	if e.tools.path(toolNginx) == "" {
		e.tearDown()
		return nil, fmt.Errorf("%w: %s", ErrMissingTool, e.tools.missing[toolNginx.program])
	}

	if err := e.build(ctx); err != nil {
		e.tearDown()
		return nil, err
	}
	e.target, err = startNginx(ctx, e.pin, e.tools.path(toolNginx), e.dir)
	if err != nil {
		e.tearDown()
		return nil, err
	}
	return e, nil
}

// ErrMissingTool is returned by Run when nginx, the target of every
// figure, is missing and could not be installed.
var ErrMissingTool = errors.New("missing tool")

// neededTools returns the tools that the selected figures use.
func (e *env) neededTools() []tool {
	tools := []tool{toolNginx}
	if slices.Contains(e.cfg.Figures, "throughput") {
		tools = append(tools, toolWrk, toolHey, toolVegeta, toolLocust)
	}
	return tools
}

// build compiles the coordinator, the worker and this harness, whose
// helper modes run the NATS server and the simulated workers of the merge
// figure in processes of their own.
func (e *env) build(ctx context.Context) error {
	fmt.Fprintln(e.log, "bench: building coordinator, worker and barrage-bench")
	bin := filepath.Join(e.dir, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin+string(filepath.Separator),
		"./cmd/coordinator", "./cmd/worker", "./bench/cmd/barrage-bench")
	cmd.Dir = e.cfg.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %w\n%s", e.cfg.Root, err, out)
	}
	e.coordinator = filepath.Join(bin, "coordinator")
	e.worker = filepath.Join(bin, "worker")
	e.helper = filepath.Join(bin, "barrage-bench")
	return nil
}

func (e *env) tearDown() {
	if e.target != nil {
		e.target.stop()
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// command formats the harness command that measures one figure.
func (e *env) command(figure string, extra ...string) string {
	parts := []string{e.cfg.Invocation, "-figures", figure}
	if e.cfg.Short {
		parts = append(parts, "-short")
	} else {
		parts = append(parts, "-runs", fmt.Sprint(e.cfg.Runs))
	}
	return strings.Join(append(parts, extra...), " ")
}

// loadNote formats the load averages seen at the start of each run.
func loadNote(values []float64) string {
	return fmt.Sprintf("Load average (1 min) at the start of each run: %s, on %d cores.", loads(values), runtime.NumCPU())
}

// numCPU returns the cores this process may run on.
func numCPU() int { return runtime.NumCPU() }

// scratch returns a new file name in the scratch directory.
func (e *env) scratch(name string) string { return filepath.Join(e.dir, name) }

// barrageVersion returns the commit of the module being measured, such
// as "this repository at 5ddb894", with "and local changes" when the work
// tree differs from it.
func (e *env) barrageVersion() string {
	out, err := exec.Command("git", "-C", e.cfg.Root, "describe", "--always", "--dirty=+changes").Output()
	if err != nil {
		return "this repository"
	}
	v := strings.TrimSpace(string(out))
	if base, ok := strings.CutSuffix(v, "+changes"); ok {
		return "this repository at " + base + " and local changes"
	}
	return "this repository at " + v
}
