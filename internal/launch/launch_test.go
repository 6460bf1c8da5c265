package launch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/launch"
	"github.com/barrage-load/barrage/internal/testutil"
)

// countingPlatform records the workers it is asked to start, and fails
// the first fail starts.
type countingPlatform struct {
	mu      sync.Mutex
	started int
	fail    int
}

func (p *countingPlatform) Name() string { return "test" }

func (p *countingPlatform) Start(context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return "", errors.New("platform unavailable")
	}
	p.started++
	return fmt.Sprintf("worker-%d", p.started), nil
}

func (p *countingPlatform) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// testBus connects to a new embedded server and returns the bus.
func testBus(t *testing.T) *bus.Bus {
	t.Helper()
	srv := testutil.StartNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, srv.URL(), "launch-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// setRunState writes a run record in state, as the coordinator does.
func setRunState(t *testing.T, b *bus.Bus, run string, state bus.RunState) {
	t.Helper()
	record := fmt.Sprintf(`{"id":%q,"state":%q}`, run, state)
	if _, err := b.KV.Put(context.Background(), bus.RunKey(run), []byte(record)); err != nil {
		t.Fatal(err)
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// stable checks that cond stays true for d.
func stable(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if !cond() {
			t.Fatalf("no longer true: "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLauncherStartsAndReplaces(t *testing.T) {
	b := testBus(t)
	platform := &countingPlatform{}
	l, err := launch.New(launch.Config{
		Platform: platform, Bus: b, Run: "keep", Workers: 3,
		MinBackoff: 200 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	defer l.Stop()

	// Nothing starts before the run is announced.
	stable(t, 100*time.Millisecond, func() bool { return platform.count() == 0 }, "no worker before the announcement")
	setRunState(t, b, "keep", bus.RunWaiting)
	testutil.Eventually(t, 5*time.Second, func() bool { return platform.count() == 3 }, "3 workers started (%d)", platform.count())

	t.Run("clean departure is replaced at once", func(t *testing.T) {
		setRunState(t, b, "keep", bus.RunRunning)
		l.Departed(coordinator.Departure{Worker: "a", Share: 0, Clean: true})
		testutil.Eventually(t, 2*time.Second, func() bool { return platform.count() == 4 }, "a replacement started (%d)", platform.count())
	})
	t.Run("failed worker is replaced after a delay", func(t *testing.T) {
		left := time.Now()
		l.Departed(coordinator.Departure{Worker: "b", Share: 1})
		testutil.Eventually(t, 5*time.Second, func() bool { return platform.count() == 5 }, "a replacement started (%d)", platform.count())
		if waited := time.Since(left); waited < 150*time.Millisecond {
			t.Errorf("replacement of a failed worker started after %s, want the backoff of 200ms", waited)
		}
	})
	t.Run("no replacement once the run stops", func(t *testing.T) {
		setRunState(t, b, "keep", bus.RunStopping)
		l.Departed(coordinator.Departure{Worker: "c", Share: 2, Clean: true})
		stable(t, 300*time.Millisecond, func() bool { return platform.count() == 5 }, "no worker after the run stopped")
	})

	started, failed := l.Started()
	if started != 5 || failed != 0 {
		t.Errorf("Started = %d, %d; want 5, 0", started, failed)
	}
}

func TestLauncherRetriesFailedStarts(t *testing.T) {
	b := testBus(t)
	setRunState(t, b, "retry", bus.RunRunning)
	platform := &countingPlatform{fail: 2}
	l, err := launch.New(launch.Config{
		Platform: platform, Bus: b, Run: "retry", Workers: 2,
		MinBackoff: 20 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	defer l.Stop()
	testutil.Eventually(t, 5*time.Second, func() bool { return platform.count() == 2 }, "2 workers started despite failures (%d)", platform.count())
	stable(t, 200*time.Millisecond, func() bool { return platform.count() == 2 }, "no worker beyond the fleet's 2")
	if started, failed := l.Started(); started != 2 || failed != 2 {
		t.Errorf("Started = %d, %d; want 2, 2", started, failed)
	}
}

func TestLauncherRejectsBadConfig(t *testing.T) {
	b := testBus(t)
	tests := []struct {
		name string
		cfg  launch.Config
	}{
		{"no platform", launch.Config{Bus: b, Run: "r", Workers: 1}},
		{"invalid run id", launch.Config{Platform: &countingPlatform{}, Bus: b, Run: "a.b", Workers: 1}},
		{"no workers", launch.Config{Platform: &countingPlatform{}, Bus: b, Run: "r"}},
		{"too many workers", launch.Config{Platform: &countingPlatform{}, Bus: b, Run: "r", Workers: 10001}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := launch.New(tt.cfg); err == nil {
				t.Error("New accepted the config")
			}
		})
	}
}
