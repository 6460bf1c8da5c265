package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/worker"
)

// launchFlags are the flags of `coordinator start` that start workers on
// a platform.
func launchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "launch", Usage: "start workers on `PLATFORM`: lambda or nomad (see deploy/)"},
		&cli.IntFlag{Name: "workers", DefaultText: "the plan's workers.min", Usage: "how many workers --launch keeps running"},
		&cli.StringFlag{Name: "advertise", DefaultText: "the URL this coordinator uses", Usage: "NATS `URL` that launched Lambda workers dial; may carry user:password, which is never logged"},
		&cli.StringFlag{Name: "worker-nats-env", Usage: "instead of sending a URL, launched Lambda workers read it from their environment variable `NAME`"},
		&cli.StringFlag{Name: "worker-creds", Usage: "`PATH` of a NATS credentials file in the Lambda function's file system, such as /opt/barrage/nats.creds"},
		&cli.DurationFlag{Name: "handover-margin", Value: worker.DefaultHandoverMargin, Usage: "time a Lambda worker keeps, after the plan's graceful_stop, to send its final report before the function's timeout"},
		&cli.StringFlag{Name: "lambda-function", Usage: "`NAME` or ARN of the worker function"},
		&cli.StringFlag{Name: "lambda-endpoint", Usage: "Lambda API `URL` to use instead of the region's, such as the runtime interface emulator's"},
		&cli.StringFlag{Name: "lambda-region", EnvVars: []string{"AWS_REGION"}, Usage: "AWS `REGION` of the function"},
		&cli.IntFlag{Name: "lambda-memory", Value: launch.DefaultLambdaMemoryMB, Usage: "memory size of the function in `MB`, for the cost estimate when the function does not report it"},
		&cli.Float64Flag{Name: "lambda-gb-second-price", Value: launch.DefaultLambdaPricePerGBSecond, Usage: "USD per GB-second for the cost estimate (default: arm64, us-east-1)"},
		&cli.Float64Flag{Name: "lambda-request-price", Value: launch.DefaultLambdaPricePerRequest, Usage: "USD per invocation for the cost estimate"},
		&cli.StringFlag{Name: "nomad-addr", EnvVars: []string{"NOMAD_ADDR"}, Usage: "Nomad HTTP API `URL`, such as http://127.0.0.1:4646"},
		&cli.StringFlag{Name: "nomad-job", Usage: "`NAME` of the parameterized worker job to dispatch"},
		&cli.DurationFlag{Name: "nomad-poll", Value: launch.DefaultNomadPollInterval, Usage: "how often to check the allocations of dispatched workers"},
	}
}

// fleet is the launcher of a run, or nil without --launch.
type fleet struct {
	launcher *launch.Launcher
	lambda   *launch.Lambda
	stopSub  func()
}

// checkLaunch validates the --launch flags against the plan before
// anything starts, and returns the fleet size.
func checkLaunch(c *cli.Context, p *plan.Plan) (int, error) {
	platform := c.String("launch")
	if platform == "" {
		return 0, nil
	}
	if platform != "lambda" && platform != "nomad" {
		return 0, cli.Exit(fmt.Sprintf("invalid --launch %q: use lambda or nomad", platform), exitInvalid)
	}
	n := p.Workers.Min
	if c.IsSet("workers") {
		n = c.Int("workers")
	}
	if n < 1 || n > worker.MaxSlots {
		return 0, cli.Exit(fmt.Sprintf("invalid --workers %d: use 1 to %d", n, worker.MaxSlots), exitInvalid)
	}
	if n < p.Workers.Min {
		return 0, cli.Exit(fmt.Sprintf("--workers %d is below the plan's workers.min %d: the run would never start", n, p.Workers.Min), exitInvalid)
	}
	if platform == "nomad" {
		if c.String("nomad-addr") == "" {
			return 0, cli.Exit("missing --nomad-addr (or NOMAD_ADDR): give the Nomad HTTP API address, such as http://127.0.0.1:4646", exitInvalid)
		}
		if c.String("nomad-job") == "" {
			return 0, cli.Exit("missing --nomad-job: name the parameterized worker job, such as barrage-worker", exitInvalid)
		}
	}
	if platform == "lambda" {
		// Shares are split evenly, so no worker gets more than this.
		users := (p.Users + n - 1) / n
		if need := worker.OpenFilesNeeded(p, users); need > launch.LambdaOpenFiles {
			return 0, cli.Exit(fmt.Sprintf("a Lambda worker would run %d users and need about %d open files, above Lambda's limit of %d: raise --workers or set http.max_connections",
				users, need, launch.LambdaOpenFiles), exitInvalid)
		}
		if c.String("lambda-function") == "" {
			return 0, cli.Exit("missing --lambda-function: name the function that runs the worker", exitInvalid)
		}
	}
	return n, nil
}

// startFleet builds the platform and starts the launcher. natsURL is the
// URL this coordinator uses, the default of --advertise.
func startFleet(ctx context.Context, c *cli.Context, b *bus.Bus, runID, natsURL string, workers int, log *slog.Logger) (*fleet, error) {
	if workers == 0 {
		return nil, nil
	}
	f := &fleet{}
	var platform launch.Platform
	switch c.String("launch") {
	case "lambda":
		event := launch.Event{
			Run:        runID,
			Slots:      workers,
			NATSURLEnv: c.String("worker-nats-env"),
			NATSCreds:  c.String("worker-creds"),
			LogLevel:   logLevel(c),
		}
		if c.IsSet("handover-margin") {
			event.HandoverMargin = c.Duration("handover-margin").String()
		}
		if event.NATSURLEnv == "" {
			event.NATSURL = natsURL
			if c.String("advertise") != "" {
				event.NATSURL = c.String("advertise")
			}
		}
		l, err := launch.NewLambda(ctx, launch.LambdaConfig{
			Function:         c.String("lambda-function"),
			Endpoint:         c.String("lambda-endpoint"),
			Region:           c.String("lambda-region"),
			Event:            event,
			MemoryMB:         c.Int("lambda-memory"),
			PricePerGBSecond: c.Float64("lambda-gb-second-price"),
			PricePerRequest:  c.Float64("lambda-request-price"),
			Logger:           log,
		})
		if err != nil {
			return nil, cli.Exit(err.Error(), exitInvalid)
		}
		f.stopSub, err = l.CollectUsage(b, runID)
		if err != nil {
			return nil, cli.Exit(err.Error(), exitFailed)
		}
		f.lambda = l
		platform = l
		log.Info("launching workers on AWS Lambda", "function", c.String("lambda-function"),
			"workers", workers, "event", event)
	case "nomad":
		n, err := launch.NewNomad(launch.NomadConfig{
			Address:      c.String("nomad-addr"),
			Job:          c.String("nomad-job"),
			Run:          runID,
			Slots:        workers,
			PollInterval: c.Duration("nomad-poll"),
			Logger:       log,
		})
		if err != nil {
			return nil, cli.Exit(err.Error(), exitInvalid)
		}
		platform = n
		log.Info("launching workers on Nomad", "job", c.String("nomad-job"), "workers", workers)
	}
	launcher, err := launch.New(launch.Config{Platform: platform, Bus: b, Run: runID, Workers: workers, Logger: log})
	if err != nil {
		return nil, cli.Exit(err.Error(), exitInvalid)
	}
	f.launcher = launcher
	launcher.Start()
	return f, nil
}

// departed passes a departure to the launcher, if there is one.
func (f *fleet) departed(d coordinator.Departure) {
	if f != nil {
		f.launcher.Departed(d)
	}
}

// stop stops launching workers. It is safe to call on nil and twice.
func (f *fleet) stop() {
	if f == nil {
		return
	}
	f.launcher.Stop()
}

// report prints what the fleet did and, for Lambda, the cost estimate.
// Usage reports of the last workers arrive after the run ended, so it
// waits a moment for them.
func (f *fleet) report(w io.Writer) {
	if f == nil {
		return
	}
	f.stop()
	started, failed := f.launcher.Started()
	fmt.Fprintf(w, "launched workers: %d started, %d start requests failed\n", started, failed)
	if f.lambda == nil {
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	for f.lambda.Cost().Reported < f.lambda.Cost().Invocations && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if f.stopSub != nil {
		f.stopSub()
	}
	fmt.Fprintln(w, f.lambda.Cost().String())
}
