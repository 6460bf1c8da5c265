package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	gotask "github.com/barrage-load/barrage/task"
)

// Test functions, registered once per test binary because the registry
// rejects a second registration of a name.
var (
	targetURLMu sync.Mutex
	targetURL   string // base URL that the test functions send to
)

func baseURL() string {
	targetURLMu.Lock()
	defer targetURLMu.Unlock()
	return targetURL
}

func setBaseURL(u string) {
	targetURLMu.Lock()
	defer targetURLMu.Unlock()
	targetURL = u
}

func init() {
	gotask.Register("test.two-requests", func(ctx context.Context, vu *gotask.VU) error {
		if _, _, err := vu.Get(ctx, baseURL()+"/first"); err != nil {
			return err
		}
		_, err := vu.Do(ctx, "POST", baseURL()+"/second", []byte("x=1"), map[string]string{"Content-Type": "text/plain"})
		return err
	})
	gotask.Register("test.error-only", func(ctx context.Context, vu *gotask.VU) error {
		return errors.New("no request sent")
	})
	gotask.Register("test.error-after-success", func(ctx context.Context, vu *gotask.VU) error {
		if _, _, err := vu.Get(ctx, baseURL()+"/ok"); err != nil {
			return err
		}
		return errors.New("unexpected body")
	})
	gotask.Register("test.error-after-500", func(ctx context.Context, vu *gotask.VU) error {
		status, _, err := vu.Get(ctx, baseURL()+"/error?status=500")
		if err != nil {
			return err
		}
		return errors.New("status " + string(rune('0'+status/100)) + "xx")
	})
	gotask.Register("test.panic", func(ctx context.Context, vu *gotask.VU) error {
		panic("oops")
	})
}

func TestRunGoTaskRecordsRequests(t *testing.T) {
	tg := newTarget(t)
	setBaseURL(tg.server.URL)
	p := parsePlan(t, `
users: 5
spawn_rate: 1000
duration: 1m
iterations: 50
tasks:
  - name: browse
    go: test.two-requests
`)
	e := newEngine(t, p, onlyShare(p))

	runEngine(t, e)
	tasks := e.Collect()

	if n := tg.count("/first"); n != 50 {
		t.Errorf("target received %d requests for /first, want 50", n)
	}
	if n := tg.count("/second"); n != 50 {
		t.Errorf("target received %d requests for /second, want 50", n)
	}
	if len(tasks) != 1 {
		t.Fatalf("Collect returned %d tasks, want 1: %+v", len(tasks), tasks)
	}
	got := tasks[0]
	if got.Name != "browse" {
		t.Errorf("Collect names the task %q, want browse", got.Name)
	}
	if got.Requests != 100 {
		t.Errorf("Collect counts %d requests, want 100", got.Requests)
	}
	if got.Failures != 0 {
		t.Errorf("Collect counts %d failures, want 0: %v", got.Failures, got.Errors)
	}
	if want := uint64(100 * len(targetBody)); got.Bytes != want {
		t.Errorf("Collect counts %d bytes, want %d", got.Bytes, want)
	}
	checkCounts(t, got)
}

func TestRunGoTaskFailures(t *testing.T) {
	tests := []struct {
		name     string
		function string
		requests uint64 // requests counted per execution
		want     string // the error message of every execution
	}{
		{"error without request", "test.error-only", 1, "no request sent"},
		{"error after success", "test.error-after-success", 1, "unexpected body"},
		{"error after failed request", "test.error-after-500", 1, "HTTP 500 Internal Server Error"},
		{"panic", "test.panic", 1, "panic: oops"},
	}
	const iterations = 8
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t)
			setBaseURL(tg.server.URL)
			p := parsePlan(t, `
users: 2
spawn_rate: 1000
iterations: %d
tasks:
  - name: failing
    go: %s
`, iterations, tt.function)
			e := newEngine(t, p, onlyShare(p))

			runEngine(t, e)
			got := total(e.Collect())

			if want := iterations * tt.requests; got.Requests != want {
				t.Errorf("Collect counts %d requests, want %d", got.Requests, want)
			}
			if got.Failures != iterations {
				t.Errorf("Collect counts %d failures, want %d", got.Failures, iterations)
			}
			if n := got.Errors[tt.want]; n != iterations {
				t.Errorf("error %q counted %d times, want %d; errors: %v", tt.want, n, iterations, got.Errors)
			}
			checkCounts(t, got)
		})
	}
}

func TestRunGoTaskIterationAndID(t *testing.T) {
	var mu sync.Mutex
	var seen []int64
	ids := make(map[int]bool)
	gotask.Register("test.iteration", func(ctx context.Context, vu *gotask.VU) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, vu.Iteration())
		ids[vu.ID()] = true
		return nil
	})
	p := parsePlan(t, `
users: 1
spawn_rate: 1000
iterations: 5
tasks:
  - name: count
    go: test.iteration
`)
	e := newEngine(t, p, onlyShare(p))

	runEngine(t, e)

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Fatalf("function ran %d times, want 5", len(seen))
	}
	for i, n := range seen {
		if n != int64(i) {
			t.Errorf("execution %d saw Iteration() = %d, want %d", i, n, i)
		}
	}
	if len(ids) != 1 {
		t.Errorf("one user reported %d distinct IDs: %v", len(ids), ids)
	}
}

func TestNewRejectsUnregisteredGoTask(t *testing.T) {
	p := parsePlan(t, `
users: 1
iterations: 1
tasks:
  - name: login
    go: not-registered
`)
	_, err := New(p, onlyShare(p), Options{})
	if !errors.Is(err, ErrTaskNotCompiled) {
		t.Fatalf("New returned error %v, want ErrTaskNotCompiled", err)
	}
	want := "task not-registered is not compiled into this worker; build your own worker with task.Register"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}
