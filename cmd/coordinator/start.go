package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/logging"
	"github.com/barrage-load/barrage/internal/report"
	"github.com/barrage-load/barrage/internal/worker"
)

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "run a plan and print the summary",
		ArgsUsage: "PLAN",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nats", EnvVars: []string{"NATS_URL"}, Usage: "URL of an existing NATS server with JetStream; without it an embedded server starts"},
			&cli.StringFlag{Name: "listen", Value: bus.DefaultListen, Usage: "HOST:PORT of the embedded server; port 0 picks a free one"},
			&cli.IntFlag{Name: "local-workers", Value: -1, DefaultText: "1 with the embedded server, 0 with --nats", Usage: "workers started inside this process"},
			&cli.StringFlag{Name: "out", Usage: "write the final summary as JSON to `FILE`"},
			&cli.StringFlag{Name: "run", Usage: "run id (letters, digits, '-', '_'); default: the plan's name and a random suffix"},
			&cli.DurationFlag{Name: "report-interval", Value: coordinator.DefaultReportInterval, Usage: "how often workers report and statistics are published"},
			&cli.DurationFlag{Name: "lease", Value: coordinator.DefaultLease, Usage: "how long leases on the run, workers and shares last without renewal"},
		},
		Action: start,
	}
}

func start(c *cli.Context) error {
	p, err := loadPlan(c)
	if err != nil {
		return err
	}
	// On a terminal the live view redraws a table on stdout, and log lines
	// go through it so that they appear above the table.
	var live *report.LiveView
	logOut := io.Writer(os.Stderr)
	if logging.IsTerminal(os.Stdout) && logging.IsTerminal(os.Stderr) {
		live = report.NewLiveView(os.Stdout, logging.TerminalWidth(os.Stdout))
		logOut = live
	}
	log, err := logging.NewTo(logOut, c.String("log-level"), logging.IsTerminal(os.Stderr))
	if err != nil {
		return cli.Exit(err.Error(), exitInvalid)
	}
	runID := c.String("run")
	if runID == "" {
		runID = newRunID(p.Name)
	}
	if !bus.ValidID(runID) {
		return cli.Exit(fmt.Sprintf("invalid --run %q: use 1 to 64 letters, digits, '-' or '_'", runID), exitInvalid)
	}
	interval, lease := c.Duration("report-interval"), c.Duration("lease")
	if interval <= 0 || lease < 300*time.Millisecond {
		return cli.Exit(fmt.Sprintf("invalid --report-interval %s or --lease %s: both must be positive and the lease at least 300ms", interval, lease), exitInvalid)
	}
	out := c.String("out")
	if out != "" {
		// Fail before the run, not after it, when the summary cannot be written.
		if err := checkWritable(out); err != nil {
			return cli.Exit(err.Error(), exitInvalid)
		}
	}

	url := c.String("nats")
	localWorkers := c.Int("local-workers")
	if localWorkers < 0 {
		localWorkers = 0
		if url == "" {
			localWorkers = 1
		}
	}
	if url == "" {
		srv, err := bus.StartServer(bus.ServerConfig{Listen: c.String("listen")})
		if err != nil {
			return cli.Exit(err.Error(), exitFailed)
		}
		defer srv.Shutdown()
		url = srv.URL()
		log.Info("embedded nats server started", "url", url)
	}

	ctx, stopSignals := signalContext(log)
	defer stopSignals()

	setup, cancelSetup := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup()
	b, err := bus.Connect(setup, url, "barrage-coordinator-"+runID)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer b.Close()

	workers, err := startLocalWorkers(setup, url, runID, localWorkers, log)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer workers.stop()

	summary, err := coordinator.Run(ctx, b, coordinator.Config{
		Plan:           p,
		RunID:          runID,
		ReportInterval: interval,
		Lease:          lease,
		Logger:         log,
		OnLive: func(s coordinator.Snapshot) {
			if live != nil {
				live.Update(s)
				return
			}
			l := s.Live
			log.Info("progress", "state", l.State, "elapsed_s", round(l.ElapsedS), "users", l.Users,
				"workers", l.Workers, "rps", round(l.RPS), "requests", l.Requests, "failures", l.Failures,
				"p95_ms", l.LatencyMS.P95, "progress_pct", round(100*l.Progress))
		},
	})
	if live != nil {
		live.Close()
	}
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	return finishRun(c, summary, out)
}

// finishRun prints the summary, writes it to out and returns the exit status.
func finishRun(c *cli.Context, s *coordinator.Summary, out string) error {
	fmt.Fprintln(c.App.Writer)
	if err := report.WriteTable(c.App.Writer, s); err != nil {
		return cli.Exit(fmt.Sprintf("print summary: %v", err), exitFailed)
	}
	if out != "" {
		data, err := json.MarshalIndent(s, "", "  ")
		if err == nil {
			err = os.WriteFile(out, append(data, '\n'), 0o644)
		}
		if err != nil {
			return cli.Exit(fmt.Sprintf("write summary to %s: %v", out, err), exitFailed)
		}
	}
	if !s.Complete {
		return cli.Exit("run incomplete: "+s.Problem, exitFailed)
	}
	return nil
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM,
// which stops the run gracefully. A second signal exits at once.
func signalContext(log *slog.Logger) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		log.Warn("signal received: stopping the run; send it again to exit at once", "signal", sig.String())
		cancel()
		if _, ok := <-signals; ok {
			log.Error("second signal: exiting without a summary")
			os.Exit(exitFailed)
		}
	}()
	return ctx, func() {
		signal.Stop(signals)
		close(signals)
		cancel()
	}
}

// localWorkers are workers running in this process, each with its own
// NATS connection as a separate process would have.
type localWorkers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	buses  []*bus.Bus
}

func startLocalWorkers(ctx context.Context, url, runID string, n int, log *slog.Logger) (*localWorkers, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	lw := &localWorkers{cancel: cancel}
	for i := range n {
		b, err := bus.Connect(ctx, url, fmt.Sprintf("barrage-local-worker-%d", i))
		if err != nil {
			lw.stop()
			return nil, err
		}
		lw.buses = append(lw.buses, b)
		w, err := worker.New(b, worker.Config{Run: runID, Logger: log.With("local", true)})
		if err != nil {
			lw.stop()
			return nil, err
		}
		lw.wg.Add(1)
		go func() {
			defer lw.wg.Done()
			if err := w.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("local worker failed", "worker_id", w.ID(), "err", err)
			}
		}()
	}
	return lw, nil
}

// stop ends the workers, waits for them and closes their connections.
func (lw *localWorkers) stop() {
	lw.cancel()
	lw.wg.Wait()
	for _, b := range lw.buses {
		b.Close()
	}
	lw.buses = nil
}

var unsafeRunChars = regexp.MustCompile(`[^a-z0-9_-]+`)

// newRunID derives a run id from the plan's name and a random suffix.
func newRunID(name string) string {
	base := strings.Trim(unsafeRunChars.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if base == "" {
		base = "run"
	}
	if len(base) > 40 {
		base = base[:40]
	}
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	suffix := make([]byte, 6)
	rand.Read(suffix)
	for i := range suffix {
		suffix[i] = letters[int(suffix[i])%len(letters)]
	}
	return base + "-" + string(suffix)
}

func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write --out %s: %v", path, err)
	}
	return f.Close()
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
