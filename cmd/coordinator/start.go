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
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/logging"
	"github.com/barrage-load/barrage/internal/metrics"
	"github.com/barrage-load/barrage/internal/natsflag"
	"github.com/barrage-load/barrage/internal/report"
	"github.com/barrage-load/barrage/internal/threshold"
	"github.com/barrage-load/barrage/internal/worker"
)

func startCommand() *cli.Command {
	cmd := &cli.Command{
		Name:      "start",
		Usage:     "run a plan and print the summary",
		ArgsUsage: "PLAN",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "nats", EnvVars: []string{"NATS_URL"}, Usage: "URL of an existing NATS server with JetStream; without it an embedded server starts"},
			&cli.StringFlag{Name: "listen", Value: bus.DefaultListen, Usage: "HOST:PORT of the embedded server; port 0 picks a free one"},
			&cli.IntFlag{Name: "local-workers", Value: -1, DefaultText: "1 with the embedded server, 0 with --nats", Usage: "workers started inside this process"},
			&cli.StringFlag{Name: "out", Usage: "write the final summary as JSON to `FILE`"},
			&cli.StringFlag{Name: "html", Usage: "write the final summary as a self-contained HTML page with charts to `FILE`"},
			&cli.StringFlag{Name: "csv", Usage: "write `PREFIX`_history.csv every report interval, and PREFIX_stats.csv and PREFIX_errors.csv at the end"},
			&cli.StringFlag{Name: "metrics-addr", Usage: "serve Prometheus metrics on http://`HOST:PORT`/metrics during the run"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn or error"},
			&cli.StringFlag{Name: "run", Usage: "run id (letters, digits, '-', '_'); default: the plan's name and a random suffix"},
			&cli.DurationFlag{Name: "report-interval", Value: coordinator.DefaultReportInterval, Usage: "how often workers report and statistics are published"},
			&cli.DurationFlag{Name: "lease", Value: coordinator.DefaultLease, Usage: "how long leases on the run, workers and shares last without renewal; 15s by default with a replicated bucket"},
		}, launchFlags()...),
		Action: start,
	}
	cmd.Flags = append(cmd.Flags, natsFlags()...)
	return cmd
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
	log, err := logging.NewTo(logOut, logLevel(c), logging.IsTerminal(os.Stderr))
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
		if err := checkWritable("out", out); err != nil {
			return cli.Exit(err.Error(), exitInvalid)
		}
	}
	htmlPath := c.String("html")
	if htmlPath != "" {
		if err := checkWritable("html", htmlPath); err != nil {
			return cli.Exit(err.Error(), exitInvalid)
		}
	}

	launchWorkers, err := checkLaunch(c, p)
	if err != nil {
		return err
	}

	outputs, err := openLiveOutputs(c, runID, log)
	if err != nil {
		return err
	}
	defer outputs.close()

	url := c.String("nats")
	localWorkers := c.Int("local-workers")
	if c.IsSet("local-workers") && localWorkers < 0 {
		return cli.Exit(fmt.Sprintf("invalid --local-workers %d: use 0 or more", localWorkers), exitInvalid)
	}
	if url == "" {
		if err := bus.ParseListen(c.String("listen")); err != nil {
			return cli.Exit(err.Error(), exitInvalid)
		}
	}
	if err := checkNATSFlags(c); err != nil {
		return cli.Exit(err.Error(), exitInvalid)
	}
	if localWorkers < 0 {
		localWorkers = 0
		if url == "" && launchWorkers == 0 {
			localWorkers = 1
		}
	}
	endpoint, err := openNATS(c, runID, log)
	if err != nil {
		return err
	}
	defer endpoint.close()

	ctx, stopSignals := signalContext(log)
	defer stopSignals()

	setup, cancelSetup := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelSetup()
	b, err := bus.Dial(setup, endpoint.config("barrage-coordinator-"+runID, c.Int("replicas"), natsflag.LogEvents(log)...))
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer b.Close()
	log.Info("connected to nats", "url", bus.RedactURL(b.NC.ConnectedUrl()), "replicas", b.Replicas)
	lease = clusterLease(c, b, lease, log)

	workers, err := startLocalWorkers(setup, endpoint, runID, localWorkers, log)
	if err != nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	defer workers.stop()

	launched, err := startFleet(setup, c, b, runID, url, launchWorkers, log)
	if err != nil {
		return err
	}
	defer launched.stop()

	summary, err := coordinator.Run(ctx, b, coordinator.Config{
		Plan:           p,
		RunID:          runID,
		ReportInterval: interval,
		Lease:          lease,
		Logger:         log,
		OnDeparture:    launched.departed,
		OnLive: func(s coordinator.Snapshot) {
			outputs.update(s)
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
	if err != nil && summary == nil {
		return cli.Exit(err.Error(), exitFailed)
	}
	outputErr := outputs.finish(summary)
	htmlErr := writeHTMLFile(htmlPath, summary)
	if htmlErr != nil {
		log.Error("could not write the HTML report", "path", htmlPath, "err", htmlErr)
	}
	finishErr := finishRun(c, summary, out)
	launched.report(c.App.Writer)
	if finishErr != nil {
		return finishErr
	}
	if outputErr != nil {
		return cli.Exit("CSV files incomplete: see the error logged above", exitFailed)
	}
	if htmlErr != nil {
		return cli.Exit("HTML report not written: see the error logged above", exitFailed)
	}
	return nil
}

// writeHTMLFile writes the summary as an HTML page to path, unless path
// is empty.
func writeHTMLFile(path string, s *coordinator.Summary) error {
	if path == "" {
		return nil
	}
	var page strings.Builder
	if err := report.WriteHTML(&page, s); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(page.String()), 0o644)
}

// finishRun prints the summary, writes it to out, prints each failed
// threshold and returns the exit status: exitFailed for an incomplete run
// or a failed threshold.
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
	failed := threshold.Failed(s.Thresholds)
	for _, r := range failed {
		fmt.Fprintln(c.App.ErrWriter, "threshold failed:", r.String())
	}
	if !s.Complete {
		return cli.Exit("run incomplete: "+s.Problem, exitFailed)
	}
	if len(failed) > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d thresholds failed", len(failed), len(s.Thresholds)), exitFailed)
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

func startLocalWorkers(ctx context.Context, endpoint *natsEndpoint, runID string, n int, log *slog.Logger) (*localWorkers, error) {
	runCtx, cancel := context.WithCancel(context.Background())
	lw := &localWorkers{cancel: cancel}
	for i := range n {
		b, err := bus.Dial(ctx, endpoint.config(fmt.Sprintf("barrage-local-worker-%d", i), 0))
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

// checkWritable returns an error naming the flag when path cannot be
// written. It leaves no file behind: a run that fails before its end must
// not leave an empty summary.
func checkWritable(flag, path string) error {
	if info, err := os.Stat(path); err == nil {
		if info.IsDir() {
			return fmt.Errorf("cannot write --%s %s: it is a directory", flag, path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("cannot write --%s %s: %v", flag, path, err)
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".barrage-check-")
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return fmt.Errorf("cannot write --%s %s: directory %s: %v", flag, path, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func round(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// liveOutputs are the --csv files and the --metrics-addr server, which
// follow the run interval by interval.
type liveOutputs struct {
	log       *slog.Logger
	csv       *report.CSVReport
	csvPrefix string
	csvErr    error // the first failed append; later intervals are dropped
	exporter  *metrics.Exporter
	server    *metrics.Server
}

// openLiveOutputs creates the CSV files and listens for metrics before the
// run starts, so that a path or address that cannot be used exits with
// exitInvalid.
func openLiveOutputs(c *cli.Context, runID string, log *slog.Logger) (*liveOutputs, error) {
	o := &liveOutputs{log: log, csvPrefix: c.String("csv")}
	if o.csvPrefix != "" {
		r, err := report.CreateCSVReport(o.csvPrefix)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("cannot write --csv %s: %v", o.csvPrefix, err), exitInvalid)
		}
		o.csv = r
	}
	if addr := c.String("metrics-addr"); addr != "" {
		o.exporter = metrics.New(runID)
		srv, err := metrics.Listen(addr, o.exporter)
		if err != nil {
			o.close()
			return nil, cli.Exit(fmt.Sprintf("cannot serve --metrics-addr %s: %v; pick a free HOST:PORT", addr, err), exitInvalid)
		}
		o.server = srv
		log.Info("metrics server started", "url", "http://"+srv.Addr().String()+"/metrics")
	}
	return o, nil
}

// update passes one interval's snapshot to the outputs. It runs on the
// run's goroutine, so it must not block.
func (o *liveOutputs) update(s coordinator.Snapshot) {
	if o.exporter != nil {
		o.exporter.Update(s)
	}
	if o.csv != nil && o.csvErr == nil {
		if o.csvErr = o.csv.Append(s); o.csvErr != nil {
			o.log.Error("could not append to the CSV history; later intervals are not written",
				"path", o.csvPrefix+report.HistoryCSVSuffix, "err", o.csvErr)
		}
	}
}

// finish writes the final CSV files, then closes the outputs. The final
// snapshot has reached the metrics before, because the coordinator passes
// it to OnLive before Run returns. finish logs the error it returns.
func (o *liveOutputs) finish(s *coordinator.Summary) error {
	var err error
	if o.csv != nil {
		if err = o.csv.Finish(s); err != nil {
			o.log.Error("could not write the CSV files", "prefix", o.csvPrefix, "err", err)
		}
	}
	o.close()
	if err == nil {
		err = o.csvErr
	}
	return err
}

// close closes the CSV history and shuts the metrics server down, waiting
// up to 5 seconds for scrapes in progress. It is safe to call twice.
func (o *liveOutputs) close() {
	if o.csv != nil {
		o.csv.Close()
	}
	if o.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := o.server.Shutdown(ctx); err != nil {
			o.log.Warn("metrics server shutdown failed", "err", err)
		}
		o.server = nil
	}
}
