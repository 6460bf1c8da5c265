package plan

import (
	"testing"
	"time"
)

func TestParseReadsTimingKeys(t *testing.T) {
	const twoTasks = "tasks:\n  - name: a\n    url: http://127.0.0.1:8080/a\n" +
		"  - name: b\n    url: http://127.0.0.1:8080/b\n    think_time: 2s\n"
	tests := []struct {
		name         string
		yaml         string
		wantPlan     ThinkTime
		wantTasks    []ThinkTime
		wantGraceful time.Duration
	}{
		{
			name:         "no keys means no pause and the default graceful stop",
			yaml:         "users: 1\nduration: 1m\n" + homeTask,
			wantTasks:    []ThinkTime{{}},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name:         "fixed think time applies to every task",
			yaml:         "users: 1\nduration: 1m\nthink_time: 500ms\n" + homeTask,
			wantPlan:     ThinkTime{Min: 500 * time.Millisecond, Max: 500 * time.Millisecond},
			wantTasks:    []ThinkTime{{Min: 500 * time.Millisecond, Max: 500 * time.Millisecond}},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name:         "range think time",
			yaml:         "users: 1\nduration: 1m\nthink_time: 100ms..1s\n" + homeTask,
			wantPlan:     ThinkTime{Min: 100 * time.Millisecond, Max: time.Second},
			wantTasks:    []ThinkTime{{Min: 100 * time.Millisecond, Max: time.Second}},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name:         "equal ends and spaces around the dots",
			yaml:         "users: 1\nduration: 1m\nthink_time: 1s .. 1s\n" + homeTask,
			wantPlan:     ThinkTime{Min: time.Second, Max: time.Second},
			wantTasks:    []ThinkTime{{Min: time.Second, Max: time.Second}},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name:     "task think time overrides the plan's",
			yaml:     "users: 1\nduration: 1m\nthink_time: 1s..3s\n" + twoTasks,
			wantPlan: ThinkTime{Min: time.Second, Max: 3 * time.Second},
			wantTasks: []ThinkTime{
				{Min: time.Second, Max: 3 * time.Second},
				{Min: 2 * time.Second, Max: 2 * time.Second},
			},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name: "task think time of zero turns the plan's off",
			yaml: "users: 1\nduration: 1m\nthink_time: 1s\n" +
				"tasks:\n  - name: a\n    url: http://127.0.0.1:8080/\n    think_time: 0\n",
			wantPlan:     ThinkTime{Min: time.Second, Max: time.Second},
			wantTasks:    []ThinkTime{{}},
			wantGraceful: DefaultGracefulStop,
		},
		{
			name:         "graceful stop set",
			yaml:         "users: 1\nduration: 1m\ngraceful_stop: 30s\n" + homeTask,
			wantTasks:    []ThinkTime{{}},
			wantGraceful: 30 * time.Second,
		},
		{
			name:         "graceful stop of zero",
			yaml:         "users: 1\nduration: 1m\ngraceful_stop: 0s\n" + homeTask,
			wantTasks:    []ThinkTime{{}},
			wantGraceful: 0,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse returned an error:\n%v", err)
			}
			if p.ThinkTime != tt.wantPlan {
				t.Errorf("ThinkTime = %+v, want %+v", p.ThinkTime, tt.wantPlan)
			}
			if p.GracefulStop != tt.wantGraceful {
				t.Errorf("GracefulStop = %v, want %v", p.GracefulStop, tt.wantGraceful)
			}
			if len(p.Tasks) != len(tt.wantTasks) {
				t.Fatalf("got %d tasks, want %d", len(p.Tasks), len(tt.wantTasks))
			}
			for i, want := range tt.wantTasks {
				if got := p.Tasks[i].ThinkTime; got != want {
					t.Errorf("tasks[%d].ThinkTime = %+v, want %+v", i, got, want)
				}
			}
		})
	}
}

func TestParseRejectsInvalidTimingKeys(t *testing.T) {
	const head = "users: 1\nduration: 1m\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "range with min above max",
			yaml: head + "think_time: 1s..100ms\n" + homeTask,
			want: []wantProblem{{3, "think_time", "think_time minimum 1s is greater than its maximum 100ms; write the range as min..max, such as 100ms..1s"}},
		},
		{
			name: "negative think time",
			yaml: head + "think_time: -1s\n" + homeTask,
			want: []wantProblem{{3, "think_time", `invalid value "-1s": think_time must be 0 or more`}},
		},
		{
			name: "negative range minimum",
			yaml: head + "think_time: -1s..1s\n" + homeTask,
			want: []wantProblem{{3, "think_time", "think_time minimum must be 0 or more"}},
		},
		{
			name: "number without a unit",
			yaml: head + "think_time: 5\n" + homeTask,
			want: []wantProblem{{3, "think_time", "invalid value 5: think_time needs a unit; use a Go duration such as 500ms"}},
		},
		{
			name: "word",
			yaml: head + "think_time: fast\n" + homeTask,
			want: []wantProblem{{3, "think_time", `invalid value "fast": think_time "fast" is not a Go duration`}},
		},
		{
			name: "range without a maximum",
			yaml: head + "think_time: 1s..\n" + homeTask,
			want: []wantProblem{{3, "think_time", `invalid value "1s..": think_time maximum is missing; use a Go duration such as 500ms or a range min..max`}},
		},
		{
			name: "range with a word for the minimum",
			yaml: head + "think_time: soon..1s\n" + homeTask,
			want: []wantProblem{{3, "think_time", `think_time minimum "soon" is not a Go duration`}},
		},
		{
			name: "think time as a list",
			yaml: head + "think_time: [1s, 2s]\n" + homeTask,
			want: []wantProblem{{3, "think_time", "invalid value (a list): think_time must be a Go duration"}},
		},
		{
			name: "task think time keeps the task path",
			yaml: head + "tasks:\n  - name: a\n    url: http://127.0.0.1:8080/\n  - name: b\n    url: http://127.0.0.1:8080/\n    think_time: 2s..1s\n",
			want: []wantProblem{{8, "tasks[1].think_time", "think_time minimum 2s is greater than its maximum 1s"}},
		},
		{
			name: "negative graceful stop",
			yaml: head + "graceful_stop: -1s\n" + homeTask,
			want: []wantProblem{{3, "graceful_stop", `invalid value "-1s": graceful_stop must be 0 or more`}},
		},
		{
			name: "graceful stop without a unit",
			yaml: head + "graceful_stop: 5\n" + homeTask,
			want: []wantProblem{{3, "graceful_stop", "invalid value 5: graceful_stop needs a unit; use a Go duration such as 5s"}},
		},
		{
			name: "graceful stop without a value",
			yaml: head + "graceful_stop:\n" + homeTask,
			want: []wantProblem{{3, "graceful_stop", "missing value: graceful_stop must be a Go duration"}},
		},
		{
			name: "misspelled think time key",
			yaml: head + "think_tme: 1s\n" + homeTask,
			want: []wantProblem{{3, "think_tme", `unknown key "think_tme"; did you mean "think_time"?`}},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			checkProblems(t, err, tt.want)
		})
	}
}
