// Package metrics exposes a run's live statistics as Prometheus metrics
// on /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/barrage-load/barrage/internal/coordinator"
)

// Exporter turns the latest snapshot of a run into Prometheus metrics at
// each scrape. Its registry is its own, with the Go and process
// collectors and the run's metrics, each of which carries a run label.
// It is safe for concurrent use.
type Exporter struct {
	registry *prometheus.Registry

	mu      sync.RWMutex
	latest  coordinator.Snapshot
	updated bool
}

// New returns an exporter for the run with id run. It exports only the
// Go and process metrics until the first Update.
func New(run string) *Exporter {
	e := &Exporter{registry: prometheus.NewRegistry()}
	e.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newRunCollector(run, e),
	)
	return e
}

// Update replaces the snapshot that the next scrapes export. It copies s,
// so the caller may reuse its slices.
func (e *Exporter) Update(s coordinator.Snapshot) {
	s.Tasks = slices.Clone(s.Tasks)
	for i := range s.Tasks {
		s.Tasks[i].Steps = slices.Clone(s.Tasks[i].Steps)
	}
	s.IntervalTasks = nil // not exported
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latest = s
	e.updated = true
}

// snapshot returns the latest snapshot and whether Update was called.
func (e *Exporter) snapshot() (coordinator.Snapshot, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.latest, e.updated
}

// Handler returns an HTTP handler that serves the metrics in the
// Prometheus exposition formats.
func (e *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{})
}

// Server serves an exporter on /metrics over HTTP.
type Server struct {
	srv      *http.Server
	addr     net.Addr
	done     chan struct{}
	serveErr error // set before done is closed
}

// Listen listens on addr (HOST:PORT; port 0 picks a free one) and serves
// e's metrics on /metrics until Shutdown. It returns an error, without
// serving, when addr is invalid or cannot be listened on, for example
// because the port is in use.
func Listen(addr string, e *Exporter) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", e.Handler())
	s := &Server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("serve metrics: %w", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Shutdown stops listening, waits for scrapes in progress to end or ctx to
// be done, and waits for the serving goroutine. It returns ctx's error when
// scrapes were cut short, or the error that stopped serving early. It is
// safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	if err != nil {
		return err
	}
	return s.serveErr
}

// runCollector produces the run's metrics from the exporter's latest
// snapshot at each scrape. Counters and summaries are const metrics set
// to the coordinator's cumulative totals, so they equal its figures
// exactly rather than being incremented by differences.
type runCollector struct {
	exporter *Exporter

	requests *prometheus.Desc
	failures *prometheus.Desc
	bytes    *prometheus.Desc
	latency  *prometheus.Desc
	users    *prometheus.Desc
	workers  *prometheus.Desc
	rps      *prometheus.Desc
	progress *prometheus.Desc
	dropped  *prometheus.Desc

	// The step metrics are the same per step of a task with steps.
	stepRequests *prometheus.Desc
	stepFailures *prometheus.Desc
	stepBytes    *prometheus.Desc
	stepLatency  *prometheus.Desc
}

func newRunCollector(run string, e *Exporter) *runCollector {
	runLabel := prometheus.Labels{"run": run}
	task := []string{"task"}
	step := []string{"task", "step"}
	return &runCollector{
		exporter: e,
		requests: prometheus.NewDesc("barrage_requests_total",
			"Requests sent since the run started, failed ones included.", task, runLabel),
		failures: prometheus.NewDesc("barrage_failures_total",
			"Requests that failed since the run started: transport errors, timeouts and statuses of 400 or more.", task, runLabel),
		bytes: prometheus.NewDesc("barrage_bytes_total",
			"Response body bytes received since the run started.", task, runLabel),
		latency: prometheus.NewDesc("barrage_latency_seconds",
			"Request latency since the run started. Quantiles come from a histogram with 0.39% relative error; the sum is the mean times the count.", task, runLabel),
		stepRequests: prometheus.NewDesc("barrage_step_requests_total",
			"Requests of one step of a task with steps since the run started, failed ones included.", step, runLabel),
		stepFailures: prometheus.NewDesc("barrage_step_failures_total",
			"Requests of one step that failed since the run started: transport errors, timeouts, failed checks and extractions, and variables without a value.", step, runLabel),
		stepBytes: prometheus.NewDesc("barrage_step_bytes_total",
			"Response body bytes of one step received since the run started.", step, runLabel),
		stepLatency: prometheus.NewDesc("barrage_step_latency_seconds",
			"Request latency of one step since the run started, as barrage_latency_seconds.", step, runLabel),
		users: prometheus.NewDesc("barrage_users",
			"Virtual users running across the fleet, as the workers last reported.", nil, runLabel),
		workers: prometheus.NewDesc("barrage_workers",
			"Workers present in the run.", nil, runLabel),
		rps: prometheus.NewDesc("barrage_rps",
			"Requests per second across the fleet over the last report interval.", nil, runLabel),
		progress: prometheus.NewDesc("barrage_progress_ratio",
			"Part of the run done, from 0 to 1: elapsed time over the duration, or iterations granted over the plan's iterations.", nil, runLabel),
		dropped: prometheus.NewDesc("barrage_dropped_arrivals_total",
			"Task executions of an open-model run that were due but not started, because every user was busy.", nil, runLabel),
	}
}

// Describe sends the descriptors of the run's metrics.
func (c *runCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.requests, c.failures, c.bytes, c.latency,
		c.stepRequests, c.stepFailures, c.stepBytes, c.stepLatency,
		c.users, c.workers, c.rps, c.progress, c.dropped,
	} {
		ch <- d
	}
}

// Collect sends the metrics of the latest snapshot, or none before the
// first Update.
func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.exporter.snapshot()
	if !ok {
		return
	}
	l := s.Live
	ch <- constMetric(c.users, prometheus.GaugeValue, float64(l.Users))
	ch <- constMetric(c.workers, prometheus.GaugeValue, float64(l.Workers))
	ch <- constMetric(c.rps, prometheus.GaugeValue, l.RPS)
	ch <- constMetric(c.progress, prometheus.GaugeValue, l.Progress)
	ch <- constMetric(c.dropped, prometheus.CounterValue, float64(l.DroppedArrivals))

	for _, t := range s.Tasks {
		ch <- constMetric(c.requests, prometheus.CounterValue, float64(t.Requests), t.Name)
		ch <- constMetric(c.failures, prometheus.CounterValue, float64(t.Failures), t.Name)
		ch <- constMetric(c.bytes, prometheus.CounterValue, float64(t.Bytes), t.Name)
		ch <- latencySummary(c.latency, t, t.Name)
		for _, s := range t.Steps {
			ch <- constMetric(c.stepRequests, prometheus.CounterValue, float64(s.Requests), t.Name, s.Name)
			ch <- constMetric(c.stepFailures, prometheus.CounterValue, float64(s.Failures), t.Name, s.Name)
			ch <- constMetric(c.stepBytes, prometheus.CounterValue, float64(s.Bytes), t.Name, s.Name)
			ch <- latencySummary(c.stepLatency, s, t.Name, s.Name)
		}
	}
}

// latencySummary converts the cumulative percentiles of a task or step
// from milliseconds to seconds, as metric d with the label values labels.
func latencySummary(d *prometheus.Desc, t coordinator.TaskSummary, labels ...string) prometheus.Metric {
	l := t.LatencyMS
	quantiles := map[float64]float64{
		0.5:   seconds(l.P50),
		0.9:   seconds(l.P90),
		0.95:  seconds(l.P95),
		0.99:  seconds(l.P99),
		0.999: seconds(l.P999),
	}
	// NOTE: the mean is rounded down to whole microseconds, so the sum
	// may be below the true total by up to one microsecond per request.
	sum := math.Round(l.Mean*1000) * float64(t.Requests) / 1e6
	m, err := prometheus.NewConstSummary(d, t.Requests, sum, quantiles, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// seconds converts milliseconds, which the summary stores at microsecond
// resolution, to seconds. Going through whole microseconds gives 0.000821
// for 0.821 ms, where dividing by 1000 gives 0.0008209999999999999.
func seconds(ms float64) float64 { return math.Round(ms*1000) / 1e6 }

// constMetric returns a const metric, or an invalid one that fails the
// scrape with err when the label values are invalid.
func constMetric(d *prometheus.Desc, kind prometheus.ValueType, v float64, labels ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, kind, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}
