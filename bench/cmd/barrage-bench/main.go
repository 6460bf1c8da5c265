//go:build linux

// Command barrage-bench measures Barrage beside wrk, vegeta, hey and
// Locust on this machine and prints the figures as Markdown. See
// BENCHMARKS.md for the figures and how they are measured.
//
//	barrage-bench [-runs N] [-duration D] [-connections N] [-figures LIST] [-short] [-out FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/barrage-load/barrage/bench"
)

func main() {
	os.Exit(run())
}

func run() int {
	// The harness runs its own binary for the NATS server and the
	// simulated workers of the merge figure.
	if len(os.Args) > 1 && os.Args[1] == "helper" {
		if err := bench.Helper(context.Background(), os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "barrage-bench: %v\n", err)
			return 1
		}
		return 0
	}
	var cfg bench.Config
	var figures, out string
	flag.IntVar(&cfg.Runs, "runs", 0, "runs of each measurement (default 3, 1 with -short)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "duration of each load generator's run (default 10s, 1s with -short)")
	flag.IntVar(&cfg.Connections, "connections", 50, "connections or users of each load generator")
	flag.StringVar(&figures, "figures", "", "comma-separated figures to measure: "+strings.Join(bench.Figures, ", ")+" (default all)")
	flag.BoolVar(&cfg.Short, "short", false, "a smoke of each figure in a few seconds; missing tools are skipped, not installed")
	flag.StringVar(&out, "out", "", "also write the Markdown to this file")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "barrage-bench: unexpected argument %q; see barrage-bench -h\n", flag.Arg(0))
		return 2
	}
	if figures != "" {
		cfg.Figures = strings.Split(figures, ",")
	}
	cfg.Invocation = "go run ./bench/cmd/barrage-bench"

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sections, err := bench.Run(ctx, cfg)
	var md strings.Builder
	bench.WriteMarkdown(&md, sections)
	fmt.Print(md.String())
	if out != "" {
		if werr := os.WriteFile(out, []byte(md.String()), 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "barrage-bench: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "barrage-bench: %v\n", err)
		if errors.Is(err, bench.ErrMissingTool) {
			return 2
		}
		return 1
	}
	return 0
}
