package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
)

func startBus(t *testing.T) *bus.Bus {
	t.Helper()
	srv, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, srv.URL(), "test")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// waitGone polls until key no longer exists or the deadline passes, and
// returns how long that took.
func waitGone(t *testing.T, b *bus.Bus, key string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		_, err := b.KV.Get(context.Background(), key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still exists after %s", key, within)
	return 0
}

func TestAcquireTwiceIsTaken(t *testing.T) {
	b := startBus(t)
	ctx := context.Background()
	if _, err := b.Acquire(ctx, "claims.r1.0", []byte("a"), 5*time.Second); err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	_, err := b.Acquire(ctx, "claims.r1.0", []byte("b"), 5*time.Second)
	if !errors.Is(err, bus.ErrTaken) {
		t.Fatalf("second acquire: got %v, want ErrTaken", err)
	}
	e, err := b.KV.Get(ctx, "claims.r1.0")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if string(e.Value()) != "a" {
		t.Errorf("holder: got %q, want %q", e.Value(), "a")
	}
}

func TestAcquireConcurrentHasOneWinner(t *testing.T) {
	b := startBus(t)
	const contenders = 20
	wins := make(chan int, contenders)
	for i := range contenders {
		go func() {
			_, err := b.Acquire(context.Background(), "claims.r2.0", []byte{byte(i)}, 5*time.Second)
			if err == nil {
				wins <- 1
				return
			}
			if !errors.Is(err, bus.ErrTaken) {
				t.Errorf("contender %d: %v", i, err)
			}
			wins <- 0
		}()
	}
	total := 0
	for range contenders {
		total += <-wins
	}
	if total != 1 {
		t.Fatalf("winners: got %d, want 1", total)
	}
}

func TestLeaseExpiresWithoutRenewal(t *testing.T) {
	b := startBus(t)
	if _, err := b.Acquire(context.Background(), "workers.r3.w1", []byte("x"), time.Second); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	took := waitGone(t, b, "workers.r3.w1", 10*time.Second)
	if took < 500*time.Millisecond {
		t.Errorf("expired after %s, want about 1s", took)
	}
	if _, err := b.Acquire(context.Background(), "workers.r3.w1", []byte("y"), time.Second); err != nil {
		t.Errorf("acquire after expiry: %v", err)
	}
}

// A renewal must keep the time to live: a lease renewed and then left
// alone still expires.
func TestRenewedLeaseStillExpires(t *testing.T) {
	b := startBus(t)
	ctx := context.Background()
	lease, err := b.Acquire(ctx, "claims.r4.0", []byte("a"), time.Second)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	for range 4 {
		time.Sleep(400 * time.Millisecond)
		if err := lease.Renew(ctx); err != nil {
			t.Fatalf("renew: %v", err)
		}
	}
	// 1.6 s after the start the key exists only because of the renewals.
	if _, err := b.KV.Get(ctx, "claims.r4.0"); err != nil {
		t.Fatalf("renewed key is gone: %v", err)
	}
	waitGone(t, b, "claims.r4.0", 10*time.Second)
}

func TestSetReplacesValue(t *testing.T) {
	b := startBus(t)
	ctx := context.Background()
	lease, err := b.Acquire(ctx, "runs.r5", []byte("waiting"), 5*time.Second)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if err := lease.Set(ctx, []byte("running")); err != nil {
		t.Fatalf("set: %v", err)
	}
	e, err := b.KV.Get(ctx, "runs.r5")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if string(e.Value()) != "running" {
		t.Errorf("value: got %q, want running", e.Value())
	}
}

func TestRenewAfterTakeoverIsLost(t *testing.T) {
	b := startBus(t)
	ctx := context.Background()
	lease, err := b.Acquire(ctx, "claims.r6.0", []byte("a"), 5*time.Second)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if _, err := b.KV.Put(ctx, "claims.r6.0", []byte("b")); err != nil {
		t.Fatalf("put: %v", err)
	}
	if err := lease.Renew(ctx); !errors.Is(err, bus.ErrLeaseLost) {
		t.Fatalf("renew: got %v, want ErrLeaseLost", err)
	}
}

func TestReleaseFreesKeyAtOnce(t *testing.T) {
	b := startBus(t)
	ctx := context.Background()
	lease, err := b.Acquire(ctx, "claims.r7.0", []byte("a"), time.Minute)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	if err := lease.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := b.Acquire(ctx, "claims.r7.0", []byte("b"), time.Minute); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
}

func TestStartServerRejectsBadListen(t *testing.T) {
	for _, listen := range []string{"nohost", "127.0.0.1:notaport", "127.0.0.1:70000"} {
		t.Run(listen, func(t *testing.T) {
			if _, err := bus.StartServer(bus.ServerConfig{Listen: listen}); err == nil {
				t.Fatalf("StartServer(%q) succeeded, want an error", listen)
			}
		})
	}
}

func TestStartServerPortInUse(t *testing.T) {
	first, err := bus.StartServer(bus.ServerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer first.Shutdown()
	addr := first.URL()[len("nats://"):]
	second, err := bus.StartServer(bus.ServerConfig{Listen: addr})
	if err == nil {
		second.Shutdown()
		t.Fatalf("second server on %s started, want an error", addr)
	}
}
