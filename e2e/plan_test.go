package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

func TestAllZeroWeightsRejected(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	target := testutil.NewTarget(t, nil)
	yaml := fmt.Sprintf(`name: all-zero
target: %s
users: 2
duration: 2s
tasks:
  - name: first
    weight: 0
    url: /first
  - name: second
    weight: 0
    url: /second
`, target.URL)
	plan := testutil.WritePlan(t, yaml)
	tasksLine := lineOf(t, yaml, "tasks:")
	// validate and start print PATH:LINE:COLUMN: KEY: MESSAGE.
	problem := regexp.MustCompile(regexp.QuoteMeta(plan) + `:(\d+):\d+: tasks: `)

	checkStderr := func(t *testing.T, stderr string) {
		t.Helper()
		m := problem.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("stderr names no problem with key tasks in the form %s:LINE:COLUMN: tasks: ...:\n%s", plan, stderr)
		}
		if m[1] != fmt.Sprint(tasksLine) {
			t.Errorf("problem with tasks is on line %s, want %d (the tasks key):\n%s", m[1], tasksLine, stderr)
		}
	}

	t.Run("start", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "summary.json")
		coord := testutil.StartProcess(t, coordinator, "start", "--listen", "127.0.0.1:0", "--out", out, plan)
		if code := waitExit(t, coord, exitTimeout); code != 2 {
			t.Errorf("coordinator start exit code = %d, want 2", code)
		}
		checkStderr(t, coord.Stderr())
		if got := target.Total(); got != 0 {
			t.Errorf("target received %d requests from a rejected plan", got)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("summary file exists after a rejected plan (stat error: %v)", err)
		}
	})

	t.Run("validate", func(t *testing.T) {
		validate := testutil.StartProcess(t, coordinator, "validate", plan)
		if code := waitExit(t, validate, exitTimeout); code != 2 {
			t.Errorf("coordinator validate exit code = %d, want 2", code)
		}
		checkStderr(t, validate.Stderr())
	})
}

func TestValidateAcceptsValidPlan(t *testing.T) {
	t.Parallel()
	coordinator, _ := binaries(t)
	plan := testutil.WritePlan(t, `name: valid
target: http://127.0.0.1:8080
users: 10
spawn_rate: 5
duration: 1m
max_rps: 100
workers:
  min: 2
tasks:
  - name: home
    weight: 3
    url: /
  - name: search
    method: POST
    url: /search
    headers: {Content-Type: application/json}
    body: '{"q": "shoes"}'
`)
	validate := testutil.StartProcess(t, coordinator, "validate", plan)
	if code := waitExit(t, validate, 10*time.Second); code != 0 {
		t.Fatalf("coordinator validate exit code = %d, want 0", code)
	}
	if stderr := validate.Stderr(); stderr != "" {
		t.Errorf("validate printed on stderr for a valid plan:\n%s", stderr)
	}
	if stdout := validate.Stdout(); !strings.Contains(stdout, plan) {
		t.Errorf("validate output does not name the plan %s:\n%s", plan, stdout)
	}
}
