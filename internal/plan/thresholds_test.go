package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// runAndTaskThresholds sets every threshold key at the top level and a
// few in the task.
const runAndTaskThresholds = `users: 1
duration: 1m
thresholds:
  p50: 50ms
  p90: 90ms
  p95: 200ms
  p99: 1s
  p99.9: 1.5s
  max: 2s
  mean: 100ms
  error_rate: 1%
  min_rps: 100
  abort_on_fail: true
tasks:
  - name: home
    url: http://127.0.0.1:8080/
    thresholds: {p95: 100ms, error_rate: 0.1%}
`

func TestParseThresholds(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		wantRun  Thresholds
		wantTask Thresholds
	}{
		{
			name:    "no thresholds keys set no limits",
			yaml:    "users: 1\nduration: 1m\n" + homeTask,
			wantRun: Thresholds{},
		},
		{
			name: "run and task thresholds keep every value",
			yaml: runAndTaskThresholds,
			wantRun: Thresholds{
				P50:         50 * time.Millisecond,
				P90:         90 * time.Millisecond,
				P95:         200 * time.Millisecond,
				P99:         time.Second,
				P999:        1500 * time.Millisecond,
				Max:         2 * time.Second,
				Mean:        100 * time.Millisecond,
				ErrorRate:   ratio(0.01),
				MinRPS:      100,
				AbortOnFail: true,
			},
			wantTask: Thresholds{P95: 100 * time.Millisecond, ErrorRate: ratio(0.001)},
		},
		{
			name:    "error rate as a ratio",
			yaml:    "users: 1\nduration: 1m\nthresholds: {error_rate: 0.01}\n" + homeTask,
			wantRun: Thresholds{ErrorRate: ratio(0.01)},
		},
		{
			name:    "error rate of zero allows no failures",
			yaml:    "users: 1\nduration: 1m\nthresholds: {error_rate: 0}\n" + homeTask,
			wantRun: Thresholds{ErrorRate: ratio(0)},
		},
		{
			name:    "error rate of 0% allows no failures",
			yaml:    "users: 1\nduration: 1m\nthresholds: {error_rate: 0%}\n" + homeTask,
			wantRun: Thresholds{ErrorRate: ratio(0)},
		},
		{
			name:    "error rate of 100% and ratio 1 are the upper bound",
			yaml:    "users: 1\nduration: 1m\nthresholds: {error_rate: 100%}\n" + homeTask + "    thresholds: {error_rate: 1}\n",
			wantRun: Thresholds{ErrorRate: ratio(1)},
			wantTask: Thresholds{
				ErrorRate: ratio(1),
			},
		},
		{
			name:    "error rate with a space before the percent sign",
			yaml:    "users: 1\nduration: 1m\nthresholds: {error_rate: 2.5 %}\n" + homeTask,
			wantRun: Thresholds{ErrorRate: ratio(0.025)},
		},
		{
			name:    "fractional min rps",
			yaml:    "users: 1\nduration: 1m\nthresholds: {min_rps: 0.5}\n" + homeTask,
			wantRun: Thresholds{MinRPS: 0.5},
		},
		{
			name:    "empty thresholds mapping",
			yaml:    "users: 1\nduration: 1m\nthresholds: {}\n" + homeTask,
			wantRun: Thresholds{},
		},
		{
			name:    "abort on fail set to false",
			yaml:    "users: 1\nduration: 1m\nthresholds: {p99: 2s, abort_on_fail: false}\n" + homeTask,
			wantRun: Thresholds{P99: 2 * time.Second},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse returned an error:\n%v", err)
			}
			if !reflect.DeepEqual(p.Thresholds, tt.wantRun) {
				t.Errorf("run thresholds = %s, want %s", describe(p.Thresholds), describe(tt.wantRun))
			}
			if !reflect.DeepEqual(p.Tasks[0].Thresholds, tt.wantTask) {
				t.Errorf("task thresholds = %s, want %s", describe(p.Tasks[0].Thresholds), describe(tt.wantTask))
			}
		})
	}
}

func TestParseRejectsInvalidThresholds(t *testing.T) {
	const head = "users: 1\nduration: 1m\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "unknown threshold key",
			yaml: head + "thresholds:\n  p97: 1s\n" + homeTask,
			want: []wantProblem{{4, "thresholds.p97", `unknown key "p97"; did you mean "p90"?`}},
		},
		{
			name: "unrelated unknown threshold key",
			yaml: head + "thresholds:\n  latency: 1s\n" + homeTask,
			want: []wantProblem{{4, "thresholds.latency", "remove it or use one of: p50, p90, p95, p99, p99.9, max, mean, error_rate, min_rps, abort_on_fail"}},
		},
		{
			name: "unknown key in task thresholds",
			yaml: head + homeTask + "    thresholds: {p95: 1s, min_rsp: 3}\n",
			want: []wantProblem{{6, "tasks[0].thresholds.min_rsp", `did you mean "min_rps"?`}},
		},
		{
			name: "misspelled thresholds key",
			yaml: head + "threshold: {p95: 1s}\n" + homeTask,
			want: []wantProblem{{3, "threshold", `unknown key "threshold"; did you mean "thresholds"?`}},
		},
		{
			name: "duplicate threshold key",
			yaml: head + "thresholds:\n  p95: 1s\n  p95: 2s\n" + homeTask,
			want: []wantProblem{{5, "thresholds.p95", `duplicate key "p95", already set at line 4`}},
		},
		{
			name: "thresholds given as a list",
			yaml: head + "thresholds: [p95]\n" + homeTask,
			want: []wantProblem{{3, "thresholds", "invalid value (a list): thresholds must be a mapping with keys such as p95"}},
		},
		{
			name: "thresholds without a value",
			yaml: head + "thresholds:\n" + homeTask,
			want: []wantProblem{{3, "thresholds", "missing value: thresholds must be a mapping"}},
		},
		{
			name: "latency written as a word",
			yaml: head + "thresholds: {p95: fast}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.p95", `invalid value "fast": thresholds.p95 must be a Go duration such as 30s`}},
		},
		{
			name: "latency without a unit",
			yaml: head + homeTask + "    thresholds:\n      p95: 200\n",
			want: []wantProblem{{7, "tasks[0].thresholds.p95", "invalid value 200: thresholds.p95 needs a unit; use a Go duration such as 200ms or 200s"}},
		},
		{
			name: "negative latency",
			yaml: head + "thresholds: {p99: -1s}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.p99", `invalid value "-1s": thresholds.p99 must be greater than 0`}},
		},
		{
			name: "zero latency",
			yaml: head + "thresholds: {p99.9: 0s}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.p99.9", "thresholds.p99.9 must be greater than 0"}},
		},
		{
			name: "latency given as a mapping",
			yaml: head + "thresholds: {max: {ms: 5}}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.max", "invalid value (a mapping): thresholds.max must be a Go duration"}},
		},
		{
			name: "latency without a value",
			yaml: head + "thresholds:\n  mean:\n" + homeTask,
			want: []wantProblem{{4, "thresholds.mean", "missing value: thresholds.mean must be a Go duration"}},
		},
		{
			name: "error rate over 100%",
			yaml: head + "thresholds: {error_rate: 101%}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", `invalid value "101%": thresholds.error_rate must be from 0% to 100%`}},
		},
		{
			name: "negative error rate percentage",
			yaml: head + "thresholds: {error_rate: -1%}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", "must be from 0% to 100%"}},
		},
		{
			name: "error rate ratio over 1",
			yaml: head + homeTask + "    thresholds: {error_rate: 5}\n",
			want: []wantProblem{{6, "tasks[0].thresholds.error_rate", "invalid value 5: thresholds.error_rate as a plain number is a ratio from 0 to 1; write 5% for a percentage"}},
		},
		{
			name: "negative error rate ratio",
			yaml: head + "thresholds: {error_rate: -0.1}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", "invalid value -0.1: thresholds.error_rate must be from 0 to 1, or from 0% to 100%"}},
		},
		{
			name: "error rate that is not a number",
			yaml: head + "thresholds: {error_rate: .nan}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", "error_rate must be a percentage such as 1% or 0.5%, or a ratio from 0 to 1"}},
		},
		{
			name: "error rate percentage that is not a number",
			yaml: head + "thresholds: {error_rate: NaN%}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", "error_rate must be a percentage"}},
		},
		{
			name: "error rate written as a word",
			yaml: head + "thresholds: {error_rate: low}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", `invalid value "low": thresholds.error_rate must be a percentage`}},
		},
		{
			name: "error rate as a quoted number without a percent sign",
			yaml: head + "thresholds: {error_rate: '0.01'}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", `invalid value "0.01": thresholds.error_rate must be a percentage`}},
		},
		{
			name: "error rate given as a boolean",
			yaml: head + "thresholds: {error_rate: true}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.error_rate", "invalid value true: thresholds.error_rate must be a percentage"}},
		},
		{
			name: "zero min rps",
			yaml: head + "thresholds: {min_rps: 0}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.min_rps", "invalid value 0: thresholds.min_rps must be greater than 0"}},
		},
		{
			name: "negative min rps",
			yaml: head + homeTask + "    thresholds: {min_rps: -5}\n",
			want: []wantProblem{{6, "tasks[0].thresholds.min_rps", "thresholds.min_rps must be greater than 0"}},
		},
		{
			name: "min rps written as a word",
			yaml: head + "thresholds: {min_rps: many}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.min_rps", `invalid value "many": thresholds.min_rps must be a number such as 100 or 2.5`}},
		},
		{
			name: "abort on fail written as a word",
			yaml: head + "thresholds: {p95: 1s, abort_on_fail: sure}\n" + homeTask,
			want: []wantProblem{{3, "thresholds.abort_on_fail", `invalid value "sure": thresholds.abort_on_fail must be true or false`}},
		},
		{
			name: "abort on fail given as a number",
			yaml: head + homeTask + "    thresholds: {p95: 1s, abort_on_fail: 1}\n",
			want: []wantProblem{{6, "tasks[0].thresholds.abort_on_fail", "invalid value 1: thresholds.abort_on_fail must be true or false"}},
		},
		{
			name: "every broken threshold in line order",
			yaml: head + "thresholds:\n  p95: 0s\n  error_rate: 150%\n  min_rps: 0\n  abort_on_fail: yes\n" + homeTask +
				"    thresholds:\n      p99: soon\n",
			want: []wantProblem{
				{4, "thresholds.p95", "thresholds.p95 must be greater than 0"},
				{5, "thresholds.error_rate", "thresholds.error_rate must be from 0% to 100%"},
				{6, "thresholds.min_rps", "thresholds.min_rps must be greater than 0"},
				{7, "thresholds.abort_on_fail", "thresholds.abort_on_fail must be true or false"},
				{12, "tasks[0].thresholds.p99", "thresholds.p99 must be a Go duration"},
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Errorf("Parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestThresholdsHasLimits(t *testing.T) {
	tests := []struct {
		name       string
		thresholds Thresholds
		want       bool
	}{
		{"zero value", Thresholds{}, false},
		{"abort on fail alone", Thresholds{AbortOnFail: true}, false},
		{"one latency", Thresholds{P999: time.Second}, true},
		{"error rate of zero", Thresholds{ErrorRate: ratio(0)}, true},
		{"min rps", Thresholds{MinRPS: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.thresholds.HasLimits(); got != tt.want {
				t.Errorf("HasLimits() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestThresholdsRoundTrip(t *testing.T) {
	p, err := Parse([]byte(runAndTaskThresholds))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	t.Run("json", func(t *testing.T) {
		roundTrip(t, json.Marshal, json.Unmarshal, p, &Plan{})
	})
	t.Run("msgpack", func(t *testing.T) {
		roundTrip(t, msgpack.Marshal, msgpack.Unmarshal, p, &Plan{})
	})
}

// ratio returns a pointer to an error rate limit.
func ratio(r float64) *float64 { return &r }

// describe shows thresholds with the error rate dereferenced, so that a
// failure message shows the limit and not an address.
func describe(t Thresholds) string {
	rate := "unset"
	if t.ErrorRate != nil {
		rate = fmt.Sprint(*t.ErrorRate)
	}
	t.ErrorRate = nil
	return fmt.Sprintf("%+v with error_rate %s", t, rate)
}
