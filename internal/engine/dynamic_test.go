package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestUpdateMovesUsersAtSpawnRate(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 20
spawn_rate: 10
duration: 1m
tasks:
  - name: home
    url: /home?delay=5ms
`, tg.server.URL)
	share := p.Split(2)[1]
	share.Users, share.SpawnRate = 0, 10
	e := newEngine(t, p, share)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startEngine(ctx, e)

	time.Sleep(200 * time.Millisecond)
	if n := e.Users(); n != 0 {
		t.Fatalf("users before the update: %d, want 0", n)
	}

	share.Users = 10
	start := time.Now()
	e.Update(share)
	if !waitFor(5*time.Second, func() bool { return e.Users() == 10 }) {
		t.Fatalf("users after growing: %d, want 10", e.Users())
	}
	// Ten users at 10 per second: the first at once, the tenth after ~0.9 s.
	if took := time.Since(start); took < 700*time.Millisecond {
		t.Errorf("reached 10 users after %s, want about 0.9 s", took)
	}

	share.Users, share.SpawnRate = 4, 5
	start = time.Now()
	e.Update(share)
	if !waitFor(5*time.Second, func() bool { return e.Users() == 4 }) {
		t.Fatalf("users after shrinking: %d, want 4", e.Users())
	}
	// Six stops at 5 per second take about 1 s.
	if took := time.Since(start); took < 800*time.Millisecond {
		t.Errorf("went down to 4 users after %s, want about 1 s", took)
	}
	time.Sleep(300 * time.Millisecond)
	if n := e.Users(); n != 4 {
		t.Errorf("users settled at %d, want 4", n)
	}

	cancel()
	waitRun(t, done, time.Now(), 5*time.Second)
	if got, want := total(e.Collect()).Requests, uint64(tg.total.Load()); got != want {
		t.Errorf("collected %d requests, target received %d", got, want)
	}
}

func TestUpdateChangesRateLimit(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 10
spawn_rate: 1000
duration: 2s
max_rps: 50
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	share := onlyShare(p)
	e := newEngine(t, p, share)
	done := startEngine(context.Background(), e)

	time.Sleep(time.Second)
	share.MaxRPS = 200
	e.Update(share)
	waitRun(t, done, time.Now(), 5*time.Second)

	// About 50 in the first second and 200 in the second, less the slots
	// that users had reserved at the old rate: 100 without the change, 400
	// had the new rate applied from the start.
	got := tg.total.Load()
	if got < 190 || got > 290 {
		t.Errorf("target received %d requests, want about 250", got)
	}
}

func TestSetValidUntilStopsLoad(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 5
spawn_rate: 100
duration: 1m
tasks:
  - name: home
    url: /home?delay=2ms
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	e.SetValidUntil(time.Now().Add(500 * time.Millisecond))
	start := time.Now()
	err := e.Run(context.Background())
	if !errors.Is(err, ErrExpired) {
		t.Fatalf("Run = %v, want ErrExpired", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run returned after %s, want about 0.5 s", took)
	}
	after := tg.total.Load()
	time.Sleep(200 * time.Millisecond)
	if n := tg.total.Load(); n != after {
		t.Errorf("target received %d requests after Run returned", n-after)
	}
	if got := total(e.Collect()).Requests; got != uint64(after) {
		t.Errorf("collected %d requests, target received %d", got, after)
	}
}

// grants hands out a fixed number of iterations in chunks, numbered in
// the order they are granted.
type grants struct {
	mu      sync.Mutex
	left    int64
	chunk   int64
	calls   int
	granted int64
}

func (g *grants) Grant(ctx context.Context) (first, n int64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	n = min(g.left, g.chunk)
	g.left -= n
	first = g.granted
	g.granted += n
	return first, n, nil
}

func TestBudgetSharedByEngines(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 30
spawn_rate: 1000
iterations: 777
duration: 1m
tasks:
  - name: home
    url: /home
`, tg.server.URL)
	budget := &grants{left: 777, chunk: 13}
	var wg sync.WaitGroup
	engines := make([]*Engine, 3)
	for i, share := range p.Split(3) {
		e, err := New(p, share, Options{Budget: budget})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		engines[i] = e
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Run(context.Background()); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	if !waitFor(20*time.Second, func() bool { wg.Wait(); return true }) {
		t.Fatal("engines did not finish")
	}
	var collected uint64
	for _, e := range engines {
		collected += total(e.Collect()).Requests
	}
	if n := tg.total.Load(); n != 777 {
		t.Errorf("target received %d requests, want 777", n)
	}
	if collected != 777 {
		t.Errorf("collected %d requests, want 777", collected)
	}
	if budget.calls < 777/13 {
		t.Errorf("budget asked %d times, want at least %d", budget.calls, 777/13)
	}
}
