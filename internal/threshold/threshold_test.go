package threshold

import (
	"reflect"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/plan"
)

// figures are the statistics of 1000 requests with a different value for
// each metric, so that a check that reads the wrong one fails.
var figures = Figures{
	Requests:  1000,
	P50:       100 * time.Millisecond,
	P90:       200 * time.Millisecond,
	P95:       300 * time.Millisecond,
	P99:       400 * time.Millisecond,
	P999:      500 * time.Millisecond,
	Max:       600 * time.Millisecond,
	Mean:      700 * time.Millisecond,
	ErrorRate: 0.02,
	RPS:       50,
}

func TestCheckComparesEachLimit(t *testing.T) {
	tests := []struct {
		name       string
		limits     plan.Thresholds
		wantName   string
		wantMetric string
		wantLimit  float64
		wantValue  float64
		wantPassed bool
	}{
		{"p50 equal to the limit passes", plan.Thresholds{P50: 100 * time.Millisecond}, "p50 <= 100ms", P50, 100, 100, true},
		{"p50 over the limit fails", plan.Thresholds{P50: 99 * time.Millisecond}, "p50 <= 99ms", P50, 99, 100, false},
		{"p90 equal to the limit passes", plan.Thresholds{P90: 200 * time.Millisecond}, "p90 <= 200ms", P90, 200, 200, true},
		{"p90 one nanosecond under fails", plan.Thresholds{P90: 200*time.Millisecond - 1}, "p90 <= 199.999999ms", P90, 199.999999, 200, false},
		{"p95 under the limit passes", plan.Thresholds{P95: time.Second}, "p95 <= 1s", P95, 1000, 300, true},
		{"p95 over the limit fails", plan.Thresholds{P95: 200 * time.Millisecond}, "p95 <= 200ms", P95, 200, 300, false},
		{"p99 equal to the limit passes", plan.Thresholds{P99: 400 * time.Millisecond}, "p99 <= 400ms", P99, 400, 400, true},
		{"p99.9 over the limit fails", plan.Thresholds{P999: 450 * time.Millisecond}, "p99.9 <= 450ms", P999, 450, 500, false},
		{"max equal to the limit passes", plan.Thresholds{Max: 600 * time.Millisecond}, "max <= 600ms", Max, 600, 600, true},
		{"mean over the limit fails", plan.Thresholds{Mean: 500 * time.Millisecond}, "mean <= 500ms", Mean, 500, 700, false},
		{"error rate equal to the limit passes", plan.Thresholds{ErrorRate: ratio(0.02)}, "error_rate <= 2%", ErrorRate, 0.02, 0.02, true},
		{"error rate over the limit fails", plan.Thresholds{ErrorRate: ratio(0.01)}, "error_rate <= 1%", ErrorRate, 0.01, 0.02, false},
		{"error rate of zero fails with failures", plan.Thresholds{ErrorRate: ratio(0)}, "error_rate <= 0%", ErrorRate, 0, 0.02, false},
		{"rps equal to the minimum passes", plan.Thresholds{MinRPS: 50}, "rps >= 50", MinRPS, 50, 50, true},
		{"rps under the minimum fails", plan.Thresholds{MinRPS: 50.5}, "rps >= 50.5", MinRPS, 50.5, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			results := Check(tt.limits, "", figures)
			if len(results) != 1 {
				t.Fatalf("Check returned %d results, want 1: %+v", len(results), results)
			}
			r := results[0]
			if r.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", r.Name, tt.wantName)
			}
			if r.Task != "" {
				t.Errorf("Task = %q, want empty for the whole run", r.Task)
			}
			if r.Metric != tt.wantMetric {
				t.Errorf("Metric = %q, want %q", r.Metric, tt.wantMetric)
			}
			if r.Limit != tt.wantLimit {
				t.Errorf("Limit = %v, want %v", r.Limit, tt.wantLimit)
			}
			if r.Value != tt.wantValue {
				t.Errorf("Value = %v, want %v", r.Value, tt.wantValue)
			}
			if r.Requests != figures.Requests {
				t.Errorf("Requests = %d, want %d", r.Requests, figures.Requests)
			}
			if r.Passed != tt.wantPassed {
				t.Errorf("Passed = %v, want %v", r.Passed, tt.wantPassed)
			}
		})
	}
}

func TestCheckOrdersEveryLimit(t *testing.T) {
	limits := plan.Thresholds{
		P50: time.Second, P90: time.Second, P95: time.Second, P99: time.Second,
		P999: time.Second, Max: time.Second, Mean: time.Second,
		ErrorRate: ratio(0.5), MinRPS: 1, AbortOnFail: true,
	}
	var metrics []string
	for _, r := range Check(limits, "", figures) {
		metrics = append(metrics, r.Metric)
	}
	want := []string{P50, P90, P95, P99, P999, Max, Mean, ErrorRate, MinRPS}
	if !reflect.DeepEqual(metrics, want) {
		t.Errorf("metrics = %v, want %v", metrics, want)
	}
}

func TestCheckWithoutLimits(t *testing.T) {
	if got := Check(plan.Thresholds{AbortOnFail: true}, "", figures); len(got) != 0 {
		t.Errorf("Check returned %+v for thresholds without limits, want none", got)
	}
}

func TestCheckNamesTheTask(t *testing.T) {
	limits := plan.Thresholds{P95: 100 * time.Millisecond, ErrorRate: ratio(0.001), MinRPS: 10}
	results := Check(limits, "home", figures)
	want := []string{"home: p95 <= 100ms", "home: error_rate <= 0.1%", "home: rps >= 10"}
	if len(results) != len(want) {
		t.Fatalf("Check returned %d results, want %d: %+v", len(results), len(want), results)
	}
	for i, r := range results {
		if r.Name != want[i] {
			t.Errorf("result %d Name = %q, want %q", i, r.Name, want[i])
		}
		if r.Task != "home" {
			t.Errorf("result %d Task = %q, want %q", i, r.Task, "home")
		}
	}
}

func TestCheckWithoutRequests(t *testing.T) {
	limits := plan.Thresholds{P99: time.Second, ErrorRate: ratio(1), MinRPS: 1}
	results := Check(limits, "", Figures{})
	if len(results) != 3 {
		t.Fatalf("Check returned %d results, want 3: %+v", len(results), results)
	}
	for _, r := range results {
		if r.Passed {
			t.Errorf("%s passed without requests, want it to fail", r.Name)
		}
	}
	if got := results[0].String(); got != "p99 <= 1s (no requests)" {
		t.Errorf("String() = %q, want %q", got, "p99 <= 1s (no requests)")
	}
	if got := results[2].String(); got != "rps >= 1 (was 0)" {
		t.Errorf("String() = %q, want %q", got, "rps >= 1 (was 0)")
	}
}

func TestCheckEarly(t *testing.T) {
	limits := plan.Thresholds{P95: 200 * time.Millisecond, ErrorRate: ratio(0.01), MinRPS: 1e6, AbortOnFail: true}

	t.Run("leaves out min rps", func(t *testing.T) {
		results := CheckEarly(limits, "home", figures)
		var metrics []string
		for _, r := range results {
			metrics = append(metrics, r.Metric)
		}
		if want := []string{P95, ErrorRate}; !reflect.DeepEqual(metrics, want) {
			t.Errorf("metrics = %v, want %v", metrics, want)
		}
		if failed := Failed(results); len(failed) != 2 {
			t.Errorf("Failed returned %+v, want p95 and error_rate", failed)
		}
	})

	t.Run("returns nothing before the first request", func(t *testing.T) {
		if got := CheckEarly(limits, "", Figures{}); got != nil {
			t.Errorf("CheckEarly returned %+v without requests, want nil", got)
		}
	})
}

func TestFailedKeepsFailedResults(t *testing.T) {
	results := []Result{
		{Name: "a", Passed: true},
		{Name: "b", Passed: false},
		{Name: "c", Passed: true},
		{Name: "d", Passed: false},
	}
	got := Failed(results)
	if len(got) != 2 || got[0].Name != "b" || got[1].Name != "d" {
		t.Errorf("Failed returned %+v, want b and d", got)
	}
	if got := Failed(results[:1]); got != nil {
		t.Errorf("Failed returned %+v when every result passed, want nil", got)
	}
}

// TestThresholdsFromParsedPlan checks the way from a plan file to results:
// percentages and ratios both become ratios, and each task gets its group.
func TestThresholdsFromParsedPlan(t *testing.T) {
	p, err := plan.Parse([]byte(`users: 1
duration: 1m
thresholds: {p95: 200ms, error_rate: 1%, abort_on_fail: true}
tasks:
  - name: home
    url: http://127.0.0.1:8080/
    thresholds: {error_rate: 0.5%}
  - name: cart
    url: http://127.0.0.1:8080/cart
  - name: search
    url: http://127.0.0.1:8080/search
    thresholds: {error_rate: 0.03}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	groups := Groups(p)
	if len(groups) != 3 {
		t.Fatalf("Groups returned %d groups, want the run, home and search: %+v", len(groups), groups)
	}
	if groups[0].Task != "" || !groups[0].Limits.AbortOnFail {
		t.Errorf("first group = %+v, want the whole run with abort_on_fail", groups[0])
	}
	if groups[1].Task != "home" || groups[1].Limits.AbortOnFail {
		t.Errorf("second group = %+v, want home without abort_on_fail", groups[1])
	}
	if groups[2].Task != "search" {
		t.Errorf("third group = %+v, want search", groups[2])
	}

	tests := []struct {
		group      Group
		wantName   string
		wantPassed bool
	}{
		{groups[0], "error_rate <= 1%", false},
		{groups[1], "home: error_rate <= 0.5%", false},
		{groups[2], "search: error_rate <= 3%", true},
	}
	for _, tt := range tests {
		t.Run(tt.wantName, func(t *testing.T) {
			var found *Result
			results := Check(tt.group.Limits, tt.group.Task, figures)
			for i := range results {
				if results[i].Metric == ErrorRate {
					found = &results[i]
				}
			}
			if found == nil {
				t.Fatalf("no error_rate result in %+v", results)
			}
			if found.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", found.Name, tt.wantName)
			}
			if found.Passed != tt.wantPassed {
				t.Errorf("Passed = %v for an error rate of 2%%, want %v", found.Passed, tt.wantPassed)
			}
		})
	}
}

func TestGroupsWithoutLimits(t *testing.T) {
	p := &plan.Plan{
		Thresholds: plan.Thresholds{AbortOnFail: true},
		Tasks:      []plan.Task{{Name: "home"}},
	}
	if got := Groups(p); got != nil {
		t.Errorf("Groups returned %+v for a plan without limits, want nil", got)
	}
}

func TestResultText(t *testing.T) {
	tests := []struct {
		name      string
		result    Result
		wantLimit string
		wantValue string
		wantText  string
	}{
		{
			name:      "latency rounded to the microsecond",
			result:    Result{Name: "p95 <= 200ms", Metric: P95, Limit: 200, Value: 350.2345678, Requests: 10},
			wantLimit: "200ms",
			wantValue: "350.235ms",
			wantText:  "p95 <= 200ms (was 350.235ms)",
		},
		{
			name:      "latency over a second rounded to the millisecond",
			result:    Result{Name: "max <= 1.5s", Metric: Max, Limit: 1500, Value: 2345.6789, Requests: 10},
			wantLimit: "1.5s",
			wantValue: "2.346s",
			wantText:  "max <= 1.5s (was 2.346s)",
		},
		{
			name:      "latency just over the limit keeps every digit",
			result:    Result{Name: "p50 <= 200ms", Metric: P50, Limit: 200, Value: 200.0001, Requests: 10},
			wantLimit: "200ms",
			wantValue: "200.0001ms",
			wantText:  "p50 <= 200ms (was 200.0001ms)",
		},
		{
			name:      "error rate as a percentage",
			result:    Result{Name: "error_rate <= 1%", Metric: ErrorRate, Limit: 0.01, Value: 1.0 / 3, Requests: 3},
			wantLimit: "1%",
			wantValue: "33.3333%",
			wantText:  "error_rate <= 1% (was 33.3333%)",
		},
		{
			name:      "tiny error rate without an exponent",
			result:    Result{Name: "error_rate <= 0%", Metric: ErrorRate, Limit: 0, Value: 1e-7, Requests: 1e7},
			wantLimit: "0%",
			wantValue: "0.00001%",
			wantText:  "error_rate <= 0% (was 0.00001%)",
		},
		{
			name:      "large minimum rate without an exponent",
			result:    Result{Name: "rps >= 1000000", Metric: MinRPS, Limit: 1e6, Value: 1523.4567, Requests: 5000},
			wantLimit: "1000000",
			wantValue: "1523.46",
			wantText:  "rps >= 1000000 (was 1523.46)",
		},
		{
			name:      "rate just under the minimum keeps every digit",
			result:    Result{Name: "rps >= 100", Metric: MinRPS, Limit: 100, Value: 99.9999999, Requests: 5000},
			wantLimit: "100",
			wantValue: "99.9999999",
			wantText:  "rps >= 100 (was 99.9999999)",
		},
		{
			name:      "latency without requests",
			result:    Result{Name: "home: p99 <= 1s", Task: "home", Metric: P99, Limit: 1000},
			wantLimit: "1s",
			wantValue: "no requests",
			wantText:  "home: p99 <= 1s (no requests)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.result.LimitText(); got != tt.wantLimit {
				t.Errorf("LimitText() = %q, want %q", got, tt.wantLimit)
			}
			if got := tt.result.ValueText(); got != tt.wantValue {
				t.Errorf("ValueText() = %q, want %q", got, tt.wantValue)
			}
			if got := tt.result.String(); got != tt.wantText {
				t.Errorf("String() = %q, want %q", got, tt.wantText)
			}
		})
	}
}

// ratio returns a pointer to an error rate limit.
func ratio(r float64) *float64 { return &r }
