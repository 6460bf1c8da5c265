package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/barrage-load/barrage/internal/testutil"
)

// brokenPlans are plans that `coordinator start` must reject before it
// starts anything. In each, line 1 is the target, and the problem named by
// key is on line.
var brokenPlans = []struct {
	name string
	body string // the plan after its target line
	key  string
	line int
}{
	{"unknown key", "users: 2\nduration: 1s\nuserz: 3\ntasks: [{name: a, url: /}]\n", "userz", 4},
	{"users as text", "users: many\nduration: 1s\ntasks: [{name: a, url: /}]\n", "users", 2},
	{"negative users", "users: -5\nduration: 1s\ntasks: [{name: a, url: /}]\n", "users", 2},
	{"zero users", "users: 0\nduration: 1s\ntasks: [{name: a, url: /}]\n", "users", 2},
	{"negative iterations", "users: 1\niterations: -1\ntasks: [{name: a, url: /}]\n", "iterations", 3},
	{"duration in words", "users: 1\nduration: 5 minutes\ntasks: [{name: a, url: /}]\n", "duration", 3},
	{"negative duration", "users: 1\nduration: -1s\ntasks: [{name: a, url: /}]\n", "duration", 3},
	{"spawn rate as text", "users: 1\nspawn_rate: fast\nduration: 1s\ntasks: [{name: a, url: /}]\n", "spawn_rate", 3},
	{"zero max_rps", "users: 1\nmax_rps: 0\nduration: 1s\ntasks: [{name: a, url: /}]\n", "max_rps", 3},
	{"negative timeout", "users: 1\ntimeout: -2s\nduration: 1s\ntasks: [{name: a, url: /}]\n", "timeout", 3},
	{"zero rate", "rate: 0\nduration: 1s\ntasks: [{name: a, url: /}]\n", "rate", 2},
	{"url with a bad scheme", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: ftp://127.0.0.1/\n", "tasks[0].url", 6},
	{"url without a host", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: 'http:///path'\n", "tasks[0].url", 6},
	{"unknown url variable", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: /item/${nope}\n", "tasks[0].url", 6},
	{"negative weight", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    weight: -1\n    url: /\n", "tasks[0].weight", 6},
	{"all weights zero", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    weight: 0\n    url: /\n", "tasks", 4},
	{"duplicate task names", "users: 1\nduration: 1s\ntasks:\n  - {name: a, url: /}\n  - {name: a, url: /b}\n", "tasks[1].name", 6},
	{"method CONNECT", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    method: CONNECT\n    url: /\n", "tasks[0].method", 6},
	{"header with a newline", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: /\n    headers:\n      X-Trace: \"a\\nb\"\n", "tasks[0].headers.X-Trace", 8},
	{"body over 1 MiB", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: /\n    body_file: huge.bin\n", "tasks[0].body_file", 7},
	{"missing body file", "users: 1\nduration: 1s\ntasks:\n  - name: a\n    url: /\n    body_file: absent.json\n", "tasks[0].body_file", 7},
	{"YAML bomb", "users: 1\nduration: 1s\nx: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\ny: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nz: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ntasks: [{name: a, url: /}]\n", "", 5},
	{"think time with rate", "rate: 5\nthink_time: 1s\nduration: 1s\ntasks: [{name: a, url: /}]\n", "think_time", 3},
	{"stages mixing users and rate", "stages:\n  - {duration: 1s, users: 2}\n  - {duration: 1s, rate: 2}\ntasks: [{name: a, url: /}]\n", "stages[1]", 4},
}

func TestBrokenPlansRejected(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	target := testutil.NewTarget(t, nil)
	for _, tt := range brokenPlans {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "huge.bin"), make([]byte, 2<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			plan := filepath.Join(dir, "plan.yaml")
			if err := os.WriteFile(plan, []byte(fmt.Sprintf("target: %s\n%s", target.URL, tt.body)), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "summary.json")
			coord := testutil.StartProcess(t, coordinator, "start", "--listen", "127.0.0.1:0", "--out", out, plan)
			if code := waitExit(t, coord, exitTimeout); code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}

			// PATH:LINE:COLUMN: KEY: MESSAGE, or without the key for a
			// problem of the whole plan.
			prefix := regexp.QuoteMeta(plan) + fmt.Sprintf(`:%d:\d+: `, tt.line)
			if tt.key != "" {
				prefix += regexp.QuoteMeta(tt.key) + ": "
			}
			if !regexp.MustCompile(prefix).MatchString(coord.Stderr()) {
				t.Errorf("stderr does not name line %d and key %q:\n%s", tt.line, tt.key, coord.Stderr())
			}
			if strings.Contains(coord.Stderr(), "run announced") {
				t.Errorf("the coordinator announced a run for a broken plan:\n%s", coord.Stderr())
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("summary written for a broken plan")
			}
		})
	}
	if n := target.Total(); n != 0 {
		t.Errorf("target received %d requests from broken plans", n)
	}
}
