package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseStages(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		users     int
		spawnRate float64
		duration  time.Duration
		stages    []Stage
	}{
		{
			name:      "users and duration come from the stages",
			yaml:      "stages:\n  - {duration: 30s, users: 50}\n  - {duration: 1m, users: 200}\n  - {duration: 10s, users: 0}\n" + homeTask,
			users:     200,
			spawnRate: 200,
			duration:  100 * time.Second,
			stages:    []Stage{{Duration: 30 * time.Second, Users: 50}, {Duration: time.Minute, Users: 200}, {Duration: 10 * time.Second}},
		},
		{
			name:      "explicit users above the highest stage",
			yaml:      "users: 300\nspawn_rate: 5\nstages:\n  - duration: 1m\n    users: 200\n" + homeTask,
			users:     300,
			spawnRate: 5,
			duration:  time.Minute,
			stages:    []Stage{{Duration: time.Minute, Users: 200}},
		},
		{
			name:      "users equal to the highest stage",
			yaml:      "users: 20\nstages:\n  - {duration: 1s, users: 20}\n" + homeTask,
			users:     20,
			spawnRate: 20,
			duration:  time.Second,
			stages:    []Stage{{Duration: time.Second, Users: 20}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Users != tt.users {
				t.Errorf("Users = %d, want %d", p.Users, tt.users)
			}
			if p.SpawnRate != tt.spawnRate {
				t.Errorf("SpawnRate = %v, want %v", p.SpawnRate, tt.spawnRate)
			}
			if p.Duration != tt.duration {
				t.Errorf("Duration = %v, want %v", p.Duration, tt.duration)
			}
			if !reflect.DeepEqual(p.Stages, tt.stages) {
				t.Errorf("Stages = %+v, want %+v", p.Stages, tt.stages)
			}
		})
	}
}

func TestParsePlanWithoutStages(t *testing.T) {
	p, err := Parse([]byte("users: 5\nduration: 1m\n" + homeTask))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p.Stages != nil {
		t.Errorf("Stages = %+v, want nil", p.Stages)
	}
}

func TestParseRejectsInvalidStages(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "duration together with stages",
			yaml: "duration: 1m\nstages:\n  - {duration: 30s, users: 5}\n" + homeTask,
			want: []wantProblem{{1, "duration", "duration and stages are both set"}},
		},
		{
			name: "empty list",
			yaml: "users: 5\nstages: []\n" + homeTask,
			want: []wantProblem{{2, "stages", "stages is empty"}},
		},
		{
			name: "stages as a mapping",
			yaml: "stages: {duration: 1m, users: 5}\n" + homeTask,
			want: []wantProblem{{1, "stages", "stages must be a list of mappings"}},
		},
		{
			name: "negative users",
			yaml: "stages:\n  - {duration: 30s, users: 5}\n  - {duration: 30s, users: -1}\n" + homeTask,
			want: []wantProblem{{3, "stages[1].users", "invalid value -1: users must be 0 or more"}},
		},
		{
			name: "duration that Go cannot parse",
			yaml: "stages:\n  - duration: 5 minutes\n    users: 5\n" + homeTask,
			want: []wantProblem{{2, "stages[0].duration", `invalid value "5 minutes": duration must be a Go duration`}},
		},
		{
			name: "zero duration",
			yaml: "stages:\n  - {duration: 0s, users: 5}\n" + homeTask,
			want: []wantProblem{{2, "stages[0].duration", "duration must be greater than 0"}},
		},
		{
			name: "users below the highest stage",
			yaml: "users: 10\nstages:\n  - {duration: 30s, users: 5}\n  - {duration: 30s, users: 50}\n" + homeTask,
			want: []wantProblem{{1, "users", "users must be at least 50, the highest users of the stages"}},
		},
		{
			name: "stage without keys",
			yaml: "stages:\n  - {}\n" + homeTask,
			want: []wantProblem{
				{2, "stages[0].duration", "missing key duration"},
				{2, "stages[0].users", "missing key users"},
			},
		},
		{
			name: "unknown key in a stage",
			yaml: "stages:\n  - {duration: 30s, users: 5, rps: 2}\n" + homeTask,
			want: []wantProblem{{2, "stages[0].rps", `unknown key "rps"`}},
		},
		{
			name: "stage that is not a mapping",
			yaml: "stages:\n  - 30s\n" + homeTask,
			want: []wantProblem{{2, "stages[0]", "a stage must be a mapping"}},
		},
		{
			name: "every stage without users",
			yaml: "stages:\n  - {duration: 30s, users: 0}\n" + homeTask,
			want: []wantProblem{{2, "stages", "every stage has 0 users"}},
		},
		{
			name: "too many stages",
			yaml: "stages:\n" + strings.Repeat("  - {duration: 1s, users: 1}\n", MaxStages+1) + homeTask,
			want: []wantProblem{{2, "stages", "stages has 101 items, over the limit of 100"}},
		},
		{
			name: "stage durations that overflow",
			yaml: "stages:\n  - {duration: 2000000h, users: 1}\n  - {duration: 2000000h, users: 1}\n" + homeTask,
			want: []wantProblem{{2, "stages", "the stage durations add up to more than"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Errorf("Parse returned a plan with the error %v", err)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestStageTarget(t *testing.T) {
	p := &Plan{Users: 200, Stages: []Stage{
		{Duration: 30 * time.Second, Users: 50},
		{Duration: time.Minute, Users: 200},
		{Duration: 10 * time.Second, Users: 0},
	}}
	tests := []struct {
		elapsed time.Duration
		users   int
		slope   float64
	}{
		{-time.Second, 0, 50.0 / 30},
		{0, 0, 50.0 / 30},
		{3 * time.Second, 5, 50.0 / 30},
		{15 * time.Second, 25, 50.0 / 30},
		{30 * time.Second, 50, 150.0 / 60},
		{60 * time.Second, 125, 150.0 / 60},
		{90 * time.Second, 200, 20},
		{95 * time.Second, 100, 20},
		{100 * time.Second, 0, 0},
		{time.Hour, 0, 0},
	}
	for _, tt := range tests {
		users, slope := p.StageTarget(tt.elapsed)
		if users != tt.users {
			t.Errorf("StageTarget(%v) users = %d, want %d", tt.elapsed, users, tt.users)
		}
		if diff := slope - tt.slope; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("StageTarget(%v) slope = %v, want %v", tt.elapsed, slope, tt.slope)
		}
	}
}

func TestStageTargetWithoutStages(t *testing.T) {
	p := &Plan{Users: 7}
	users, slope := p.StageTarget(time.Minute)
	if users != 7 {
		t.Errorf("users = %d, want 7", users)
	}
	if slope != 0 {
		t.Errorf("slope = %v, want 0", slope)
	}
}

func TestStageTargetFlatStage(t *testing.T) {
	p := &Plan{Users: 20, Stages: []Stage{{Duration: 3 * time.Second, Users: 20}, {Duration: 3 * time.Second, Users: 20}}}
	users, slope := p.StageTarget(4 * time.Second)
	if users != 20 {
		t.Errorf("users = %d, want 20", users)
	}
	if slope != 0 {
		t.Errorf("slope = %v, want 0", slope)
	}
}
