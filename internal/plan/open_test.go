package plan

import (
	"math"
	"testing"
	"time"
)

func TestParseOpenModel(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		rate     float64
		users    int
		duration time.Duration
	}{
		{
			name:     "rate with users as the cap",
			yaml:     "rate: 200\nusers: 50\nduration: 10s\n" + homeTask,
			rate:     200,
			users:    50,
			duration: 10 * time.Second,
		},
		{
			name:     "users default to rate times timeout",
			yaml:     "rate: 100\ntimeout: 3s\nduration: 5s\n" + homeTask,
			rate:     100,
			users:    300,
			duration: 5 * time.Second,
		},
		{
			name:     "a slow rate still gets one user",
			yaml:     "rate: 0.01\ntimeout: 1s\nduration: 5s\n" + homeTask,
			rate:     0.01,
			users:    1,
			duration: 5 * time.Second,
		},
		{
			name:     "rate stages set the rate and the duration",
			yaml:     "timeout: 2s\nstages:\n  - {duration: 10s, rate: 50}\n  - {duration: 20s, rate: 120.5}\n  - {duration: 5s, rate: 0}\n" + homeTask,
			rate:     120.5,
			users:    241,
			duration: 35 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !p.Open() {
				t.Error("Open() = false, want true")
			}
			if p.Rate != tt.rate || p.Users != tt.users || p.Duration != tt.duration {
				t.Errorf("rate, users, duration = %v, %d, %v; want %v, %d, %v",
					p.Rate, p.Users, p.Duration, tt.rate, tt.users, tt.duration)
			}
		})
	}
}

func TestParseClosedModelIsNotOpen(t *testing.T) {
	p, err := Parse([]byte("users: 5\nduration: 1s\n" + homeTask))
	if err != nil {
		t.Fatal(err)
	}
	if p.Open() || p.Rate != 0 {
		t.Errorf("Open() = %v with Rate %v for a plan without rate", p.Open(), p.Rate)
	}
}

func TestParseRejectsInvalidOpenModel(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "zero rate",
			yaml: "rate: 0\nduration: 1s\n" + homeTask,
			want: []wantProblem{{1, "rate", "invalid value 0: rate must be greater than 0"}},
		},
		{
			name: "rate that is text",
			yaml: "rate: fast\nduration: 1s\n" + homeTask,
			want: []wantProblem{{1, "rate", `invalid value "fast": rate must be a number such as 200 or 0.5`}},
		},
		{
			name: "rate over the limit",
			yaml: "rate: 1e9\nduration: 1s\n" + homeTask,
			want: []wantProblem{{1, "rate", "rate must be at most 10000000"}},
		},
		{
			name: "spawn_rate with rate",
			yaml: "rate: 10\nspawn_rate: 2\nduration: 1s\n" + homeTask,
			want: []wantProblem{{2, "spawn_rate", "spawn_rate does not apply to a plan with rate"}},
		},
		{
			name: "plan think_time with rate",
			yaml: "rate: 10\nthink_time: 1s\nduration: 1s\n" + homeTask,
			want: []wantProblem{{2, "think_time", "think_time does not apply to a plan with rate"}},
		},
		{
			name: "task think_time with rate",
			yaml: "rate: 10\nduration: 1s\n" + homeTask + "    think_time: 1s\n",
			want: []wantProblem{{6, "tasks[0].think_time", "think_time does not apply to a plan with rate"}},
		},
		{
			name: "rate key with rate stages",
			yaml: "rate: 10\nstages:\n  - {duration: 1s, rate: 5}\n" + homeTask,
			want: []wantProblem{{1, "rate", "rate and rate stages are both set"}},
		},
		{
			name: "stages that mix users and rate",
			yaml: "stages:\n  - {duration: 1s, users: 5}\n  - {duration: 1s, rate: 5}\n" + homeTask,
			want: []wantProblem{{3, "stages[1]", "this stage sets rate but stages[0] sets users"}},
		},
		{
			name: "stage with users and rate",
			yaml: "stages:\n  - {duration: 1s, users: 5, rate: 5}\n" + homeTask,
			want: []wantProblem{{2, "stages[0].rate", "users and rate are both set"}},
		},
		{
			name: "stage with neither users nor rate",
			yaml: "stages:\n  - {duration: 1s}\n" + homeTask,
			want: []wantProblem{{2, "stages[0].users", "missing key users or rate"}},
		},
		{
			name: "every rate stage at 0",
			yaml: "stages:\n  - {duration: 1s, rate: 0}\n" + homeTask,
			want: []wantProblem{{2, "stages", "every stage has rate 0"}},
		},
		{
			name: "negative stage rate",
			yaml: "stages:\n  - {duration: 1s, rate: -3}\n" + homeTask,
			want: []wantProblem{{2, "stages[0].rate", "rate must be greater than 0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Fatalf("Parse returned a plan for an invalid plan")
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestRateAt(t *testing.T) {
	p := &Plan{Rate: 100, Stages: []Stage{
		{Duration: 10 * time.Second, Rate: 100},
		{Duration: 10 * time.Second, Rate: 100},
		{Duration: 5 * time.Second, Rate: 0},
	}}
	tests := []struct {
		elapsed time.Duration
		want    float64
	}{
		{-time.Second, 0},
		{0, 0},
		{5 * time.Second, 50},
		{10 * time.Second, 100},
		{15 * time.Second, 100},
		{22500 * time.Millisecond, 50},
		{25 * time.Second, 0},
		{time.Hour, 0},
	}
	for _, tt := range tests {
		if got := p.RateAt(tt.elapsed); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("RateAt(%v) = %v, want %v", tt.elapsed, got, tt.want)
		}
	}
	if got := (&Plan{Rate: 7}).RateAt(time.Minute); got != 7 {
		t.Errorf("RateAt of a constant rate = %v, want 7", got)
	}
	if got := (&Plan{Users: 3}).RateAt(time.Minute); got != 0 {
		t.Errorf("RateAt of a closed-model plan = %v, want 0", got)
	}
}

func TestSplitOpenModelParts(t *testing.T) {
	p := &Plan{Users: 10, Rate: 300, SpawnRate: 10}
	shares := p.Split(3)
	sum := 0.0
	for _, s := range shares {
		sum += s.Part
	}
	if sum != 1 {
		t.Errorf("parts add up to %v, want 1", sum)
	}
	if shares[0].Part != 0.4 || shares[1].Part != 0.3 {
		t.Errorf("parts = %v, %v, %v; want 0.4, 0.3, 0.3", shares[0].Part, shares[1].Part, shares[2].Part)
	}
	for _, s := range (&Plan{Users: 10, SpawnRate: 10}).Split(3) {
		if s.Part != 0 {
			t.Errorf("closed-model share has part %v", s.Part)
		}
	}
}
