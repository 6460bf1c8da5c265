package metrics_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/metrics"
)

const runID = "shop-abc123"

// snapshot returns a snapshot with two tasks whose totals grow with n.
func snapshot(n uint64) coordinator.Snapshot {
	return coordinator.Snapshot{
		Live: coordinator.Live{
			Run: runID, State: "running", Users: int(10 * n), Workers: int(n),
			Requests: 3 * n * 1000, RPS: 123.25 * float64(n), Progress: 0.25 * float64(n),
		},
		Tasks: []coordinator.TaskSummary{
			{
				Name: "home", Requests: 2*n*1000 + 7, Failures: n, Bytes: n * 987654321,
				LatencyMS: coordinator.Latency{P50: 1.5, P90: 3.25, P95: 4, P99: 8.5, P999: 20, Max: 31, Mean: 2.5},
			},
			{
				Name: "missing", Requests: n * 1000, Failures: n * 1000, Bytes: 0,
				LatencyMS: coordinator.Latency{P50: 2 * float64(n), P90: 0.821, P95: 6.001, P99: 9.3, P999: 12.7, Max: 13, Mean: 0.273},
			},
		},
		IntervalTasks: []coordinator.TaskSummary{{Name: "home"}, {Name: "missing"}},
	}
}

// scrape fetches url with net/http and parses the text format.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := fetchMetrics(url)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

func fetchMetrics(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return families, nil
}

func labelsOf(m *dto.Metric) map[string]string {
	labels := make(map[string]string)
	for _, p := range m.GetLabel() {
		labels[p.GetName()] = p.GetValue()
	}
	return labels
}

// find returns the metric of family name whose task label is task ("" for
// a metric without one), and checks its run label.
func find(t *testing.T, families map[string]*dto.MetricFamily, name, task string) *dto.Metric {
	t.Helper()
	f := families[name]
	if f == nil {
		t.Fatalf("metric %s missing", name)
	}
	for _, m := range f.GetMetric() {
		labels := labelsOf(m)
		if labels["task"] != task {
			continue
		}
		if labels["run"] != runID {
			t.Errorf("%s{task=%q}: run label %q, want %q", name, task, labels["run"], runID)
		}
		return m
	}
	t.Fatalf("metric %s{task=%q} missing", name, task)
	return nil
}

// checkSnapshot compares every run metric with the snapshot s.
func checkSnapshot(t *testing.T, families map[string]*dto.MetricFamily, s coordinator.Snapshot) {
	t.Helper()
	gauges := map[string]float64{
		"barrage_users":          float64(s.Live.Users),
		"barrage_workers":        float64(s.Live.Workers),
		"barrage_rps":            s.Live.RPS,
		"barrage_progress_ratio": s.Live.Progress,
	}
	for name, want := range gauges {
		if got := find(t, families, name, "").GetGauge().GetValue(); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	for _, task := range s.Tasks {
		counters := map[string]uint64{
			"barrage_requests_total": task.Requests,
			"barrage_failures_total": task.Failures,
			"barrage_bytes_total":    task.Bytes,
		}
		for name, want := range counters {
			m := find(t, families, name, task.Name)
			if got := m.GetCounter().GetValue(); got != float64(want) {
				t.Errorf("%s{task=%q} = %v, want %d", name, task.Name, got, want)
			}
		}
		checkLatency(t, find(t, families, "barrage_latency_seconds", task.Name).GetSummary(), task)
	}
}

func checkLatency(t *testing.T, summary *dto.Summary, task coordinator.TaskSummary) {
	t.Helper()
	if got := summary.GetSampleCount(); got != task.Requests {
		t.Errorf("latency{task=%q} count = %d, want %d", task.Name, got, task.Requests)
	}

	// The sum is the mean in whole microseconds times the count.
	meanMicros := uint64(math.Round(task.LatencyMS.Mean * 1000))
	wantSum := parseFloat(t, fmt.Sprintf("%de-6", meanMicros*task.Requests))
	if got := summary.GetSampleSum(); got != wantSum {
		t.Errorf("latency{task=%q} sum = %v, want %v", task.Name, got, wantSum)
	}

	l := task.LatencyMS
	want := map[float64]float64{
		0.5: msToSeconds(t, l.P50), 0.9: msToSeconds(t, l.P90), 0.95: msToSeconds(t, l.P95),
		0.99: msToSeconds(t, l.P99), 0.999: msToSeconds(t, l.P999),
	}
	got := make(map[float64]float64)
	for _, q := range summary.GetQuantile() {
		got[q.GetQuantile()] = q.GetValue()
	}

	if len(got) != len(want) {
		t.Errorf("latency{task=%q}: %d quantiles, want %d", task.Name, len(got), len(want))
	}
	for q, w := range want {
		v, ok := got[q]
		if !ok {
			t.Errorf("latency{task=%q}: quantile %v missing", task.Name, q)
			continue
		}
		if v != w {
			t.Errorf("latency{task=%q} quantile %v = %v, want %v", task.Name, q, v, w)
		}
	}
}

// msToSeconds returns the float64 nearest to the decimal value of ms in
// seconds, which is what the exporter must produce for a whole number of
// microseconds.
func msToSeconds(t *testing.T, ms float64) float64 {
	t.Helper()
	return parseFloat(t, strconv.FormatFloat(ms, 'f', -1, 64)+"e-3")
}

func parseFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExporterBeforeUpdate(t *testing.T) {
	e := metrics.New(runID)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	families := scrape(t, srv.URL)
	for name := range families {
		if strings.HasPrefix(name, "barrage_") {
			t.Errorf("metric %s exported before the first Update", name)
		}
	}
	if families["go_goroutines"] == nil {
		t.Error("Go collector metric go_goroutines missing")
	}
	if families["process_start_time_seconds"] == nil {
		t.Error("process collector metric process_start_time_seconds missing")
	}
}

func TestExporterFollowsSnapshots(t *testing.T) {
	e := metrics.New(runID)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	first := snapshot(1)
	e.Update(first)
	checkSnapshot(t, scrape(t, srv.URL), first)

	second := snapshot(2)
	e.Update(second)
	families := scrape(t, srv.URL)
	checkSnapshot(t, families, second)

	if n := len(families["barrage_requests_total"].GetMetric()); n != 2 {
		t.Errorf("barrage_requests_total: %d series, want one per task", n)
	}
	if got := families["barrage_requests_total"].GetType(); got != dto.MetricType_COUNTER {
		t.Errorf("barrage_requests_total type = %v, want counter", got)
	}
	if got := families["barrage_latency_seconds"].GetType(); got != dto.MetricType_SUMMARY {
		t.Errorf("barrage_latency_seconds type = %v, want summary", got)
	}
}

func TestExporterCopiesSnapshot(t *testing.T) {
	e := metrics.New(runID)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	s := snapshot(1)
	want := snapshot(1)
	e.Update(s)
	s.Tasks[0].Requests = 1 // the caller reuses its slice
	checkSnapshot(t, scrape(t, srv.URL), want)
}

func TestExporterConcurrentScrapes(t *testing.T) {
	e := metrics.New(runID)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := fetchMetrics(srv.URL); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for n := range uint64(50) {
		e.Update(snapshot(n))
	}
	wg.Wait()
	checkSnapshot(t, scrape(t, srv.URL), snapshot(49))
}

func TestServerServesMetrics(t *testing.T) {
	e := metrics.New(runID)
	s, err := metrics.Listen("127.0.0.1:0", e)
	if err != nil {
		t.Fatal(err)
	}
	e.Update(snapshot(3))
	checkSnapshot(t, scrape(t, fmt.Sprintf("http://%s/metrics", s.Addr())), snapshot(3))

	resp, err := http.Get(fmt.Sprintf("http://%s/other", s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /other: status %s, want 404", resp.Status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still listening after Shutdown")
	}
}

func TestListenOnPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	_, err = metrics.Listen(ln.Addr().String(), metrics.New(runID))
	if err == nil {
		t.Fatal("no error for a port in use")
	}
	if !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestListenOnInvalidAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:99999", "not an address"} {
		if _, err := metrics.Listen(addr, metrics.New(runID)); err == nil {
			t.Errorf("Listen(%q): no error", addr)
		}
	}
}

func TestExporterStepMetrics(t *testing.T) {
	e := metrics.New(runID)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()

	s := snapshot(1)
	login := coordinator.TaskSummary{
		Name: "login", Requests: 600, Failures: 0, Bytes: 6000,
		LatencyMS: coordinator.Latency{P50: 1, P90: 2, P95: 3, P99: 4, P999: 5, Max: 6, Mean: 1.25},
	}
	profile := coordinator.TaskSummary{
		Name: "profile", Requests: 400, Failures: 1, Bytes: 4000,
		LatencyMS: coordinator.Latency{P50: 2, P90: 3, P95: 4, P99: 5, P999: 6, Max: 7, Mean: 2.5},
	}
	s.Tasks[1].Steps = []coordinator.TaskSummary{login, profile}
	e.Update(s)
	families := scrape(t, srv.URL)

	// The task metrics keep one series per task.
	checkSnapshot(t, families, s)
	if n := len(families["barrage_requests_total"].GetMetric()); n != 2 {
		t.Errorf("barrage_requests_total has %d series, want 2 (one per task)", n)
	}

	for _, step := range s.Tasks[1].Steps {
		counters := map[string]uint64{
			"barrage_step_requests_total": step.Requests,
			"barrage_step_failures_total": step.Failures,
			"barrage_step_bytes_total":    step.Bytes,
		}
		for name, want := range counters {
			m := findStep(t, families, name, "missing", step.Name)
			if got := m.GetCounter().GetValue(); got != float64(want) {
				t.Errorf("%s{step=%q} = %v, want %d", name, step.Name, got, want)
			}
		}
		checkLatency(t, findStep(t, families, "barrage_step_latency_seconds", "missing", step.Name).GetSummary(), step)
	}
}

// findStep returns the metric of family name with the labels task and
// step, and checks its run label.
func findStep(t *testing.T, families map[string]*dto.MetricFamily, name, task, step string) *dto.Metric {
	t.Helper()
	for _, m := range families[name].GetMetric() {
		labels := labelsOf(m)
		if labels["task"] != task || labels["step"] != step {
			continue
		}
		if labels["run"] != runID {
			t.Errorf("%s{step=%q}: run label %q, want %q", name, step, labels["run"], runID)
		}
		return m
	}
	t.Fatalf("metric %s{task=%q,step=%q} missing", name, task, step)
	return nil
}
