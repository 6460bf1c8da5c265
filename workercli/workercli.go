// Package workercli is the worker command: it joins a run announced on
// NATS, claims a share of its plan, generates the load and reports
// statistics to the coordinator. cmd/worker calls Main, and so can a
// program that registers its own Go tasks with package task first.
package workercli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/allowlist"
	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/logging"
	"github.com/barrage-load/barrage/internal/natsflag"
	"github.com/barrage-load/barrage/internal/worker"
	"github.com/barrage-load/barrage/task"
)

// Main runs the worker command with the flags in os.Args. It returns when
// the run ended or the process got SIGINT or SIGTERM. It exits the process
// with status 1 when NATS or the run failed, and 2 for invalid flags or
// arguments. Register Go tasks with task.Register before calling Main.
//
// Inside AWS Lambda (AWS_LAMBDA_RUNTIME_API set) Main ignores the flags and
// serves invocations as the function handler instead, and never returns.
// Each invocation's event (launch.Event) names the run to join.
func Main() {
	// Each connection to a target is an open file, and Lambda allows
	// 1,024 of them.
	soft, hard, limitErr := worker.RaiseOpenFileLimit()
	if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
		if limitErr != nil {
			fmt.Fprintln(os.Stderr, "worker: could not raise the open-file limit:", limitErr)
		}
		runLambda()
		return
	}
	openFiles = openFileLimit{soft: soft, hard: hard, err: limitErr}
	app := &cli.App{
		Name:  "worker",
		Usage: "join load-test runs announced on NATS and generate their load",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nats", EnvVars: []string{"NATS_URL"}, Value: "nats://127.0.0.1:4222", Usage: "URL of the NATS server the coordinator uses"},
			&cli.StringFlag{Name: "id", Usage: "worker id (letters, digits, '-', '_'); default: host name, process id and a random suffix"},
			&cli.StringFlag{Name: "run", Usage: "join only the run with this id; default: the first run announced"},
			&cli.IntFlag{Name: "slots", Usage: "take part only if one of `N` places of a launched fleet is free, and exit at once otherwise; needs --run (set by launchers such as the Nomad dispatch job)"},
			&cli.DurationFlag{Name: "connect-timeout", Value: 30 * time.Second, Usage: "how long to keep trying to reach NATS at start"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
			&cli.StringSliceFlag{Name: "allow-target", EnvVars: []string{"BARRAGE_ALLOW_TARGET"}, Usage: "send load only to these hosts: names, *.domain wildcards, addresses or networks such as 10.0.0.0/8 (repeat or separate with commas); default: any host"},
		},
		Action:          run,
		HideHelpCommand: true,
	}
	app.Flags = append(app.Flags, natsflag.Flags()...)
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		var coder cli.ExitCoder
		if errors.As(err, &coder) {
			os.Exit(coder.ExitCode())
		}
		os.Exit(2)
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("unexpected argument %q: worker takes only flags (worker --help)", c.Args().First()), 2)
	}
	log, err := logging.New(os.Stderr, c.String("log-level"))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	allow, err := allowlist.Parse(c.StringSlice("allow-target"))
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		log.Info("stopping: requests in flight finish within the plan's graceful_stop, then the final report is sent; send the signal again to exit at once")
		stop()
	}()

	credentials := natsflag.Credentials(c)
	if _, err := credentials.Options(); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	b, err := bus.Dial(ctx, bus.Config{
		URL:            c.String("nats"),
		Name:           "barrage-worker",
		Credentials:    credentials,
		ConnectTimeout: c.Duration("connect-timeout"),
		WaitForBucket:  true,
		OnWait:         func() { log.Info("waiting for a coordinator to create the bucket " + bus.Bucket) },
		Options:        natsflag.LogEvents(log),
	})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer b.Close()

	w, err := worker.New(b, worker.Config{ID: c.String("id"), Run: c.String("run"), Slots: c.Int("slots"), Logger: log, Allow: allow})
	if err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if openFiles.err != nil {
		log.Warn("could not raise the open-file limit", "err", openFiles.err)
	}
	log.Info("worker started", "worker_id", w.ID(), "nats", bus.RedactURL(c.String("nats")), "go_tasks", task.Names(),
		"open_files", openFiles.soft, "open_files_max", openFiles.hard, "allow_target", allow.String())
	err = w.Run(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, worker.ErrNoFreeSlot), errors.Is(err, worker.ErrRunOver):
		log.Info("not taking part", "worker_id", w.ID(), "reason", err)
		return nil
	case errors.Is(err, context.Canceled):
		log.Info("worker stopped by signal", "worker_id", w.ID())
		return nil
	default:
		return cli.Exit(err.Error(), 1)
	}
}

// openFileLimit is the open-file limit that Main found, for the log.
type openFileLimit struct {
	soft, hard uint64
	err        error
}

var openFiles openFileLimit
