package engine

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// BenchmarkRequest measures one user sending requests one after another
// through the same path as Run's loop. The target is a fasthttp server in
// this process, or the server at the URL in BARRAGE_BENCH_TARGET, such as
// nginx. cpu-ns/op is the process's CPU time per request, user and
// system, which includes the server's when it runs in this process.
func BenchmarkRequest(b *testing.B) {
	target := os.Getenv("BARRAGE_BENCH_TARGET")
	if target == "" {
		target = "http://" + startBenchServer(b)
	}
	p := parsePlan(b, `
target: %s
users: 1
duration: 1m
tasks:
  - name: home
    url: /home
`, target)
	e := newEngine(b, p, onlyShare(p))
	u := e.newUser(0)
	task := e.tasks[0]
	u.run(task) // opens the connection outside the timed loop

	b.ReportAllocs()
	cpu := startCPUClock()
	b.ResetTimer()
	for range b.N {
		u.run(task)
	}
	b.StopTimer()
	cpu.report(b)

	got := total(e.Collect())
	if got.Requests != uint64(b.N)+1 || got.Failures != 0 {
		b.Fatalf("Collect counts %d requests and %d failures, want %d and 0: %v",
			got.Requests, got.Failures, b.N+1, got.Errors)
	}
}

// BenchmarkFiftyUsers measures an engine whose 50 users send b.N requests
// between them, as a closed-model run does, to the target of
// BenchmarkRequest. ns/op is the time per request of all users together,
// so its inverse is the requests per second. With -cpuprofile it shows
// where a worker's CPU time goes; bench/cmd/barrage-bench runs it against
// nginx.
func BenchmarkFiftyUsers(b *testing.B) {
	target := os.Getenv("BARRAGE_BENCH_TARGET")
	if target == "" {
		target = "http://" + startBenchServer(b)
	}
	p := parsePlan(b, `
target: %s
users: 50
spawn_rate: 1000000
iterations: %d
duration: 1h
tasks:
  - name: home
    url: /home
`, target, b.N)
	e := newEngine(b, p, onlyShare(p))

	b.ReportAllocs()
	cpu := startCPUClock()
	b.ResetTimer()
	if err := e.Run(context.Background()); err != nil {
		b.Fatalf("Run: %v", err)
	}
	b.StopTimer()
	cpu.report(b)

	got := total(e.Collect())
	if got.Requests != uint64(b.N) || got.Failures != 0 {
		b.Fatalf("Collect counts %d requests and %d failures, want %d and 0: %v",
			got.Requests, got.Failures, b.N, got.Errors)
	}
}

// BenchmarkRequestAfterPause measures a request of a user that released
// its request and response during a pause, as it does for releaseAfter or
// longer: it takes them from fasthttp's pools and rebuilds the request
// from its template. Its difference to BenchmarkRequest is the cost.
func BenchmarkRequestAfterPause(b *testing.B) {
	p := parsePlan(b, `
target: http://%s
users: 1
duration: 1m
tasks:
  - name: home
    url: /home
`, startBenchServer(b))
	e := newEngine(b, p, onlyShare(p))
	u := e.newUser(0)
	task := e.tasks[0]
	u.run(task) // opens the connection outside the timed loop

	b.ReportAllocs()
	cpu := startCPUClock()
	b.ResetTimer()
	for range b.N {
		u.releaseBuffers()
		u.run(task)
	}
	b.StopTimer()
	cpu.report(b)

	if got := total(e.Collect()); got.Requests != uint64(b.N)+1 || got.Failures != 0 {
		b.Fatalf("Collect counts %d requests and %d failures, want %d and 0: %v",
			got.Requests, got.Failures, b.N+1, got.Errors)
	}
}

// startBenchServer starts a fasthttp server on loopback that returns
// targetBody to every request, and returns its address.
func startBenchServer(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen on loopback: %v", err)
	}
	server := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyString(targetBody)
	}}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	b.Cleanup(func() {
		if err := server.Shutdown(); err != nil {
			b.Errorf("shut down server: %v", err)
		}
		if err := <-served; err != nil {
			b.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func BenchmarkChooserPick(b *testing.B) {
	c := newChooser(tasksWithWeights(3, 1, 0, 6, 2, 10, 1, 1))
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for range b.N {
		c.pick(rng)
	}
}

func BenchmarkPacerReserve(b *testing.B) {
	// One slot per nanosecond keeps the waits near 0, so the benchmark
	// measures the contention on the next free slot.
	p := newPacer(1e9)
	p.start()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.reserve()
		}
	})
}

func BenchmarkRecord(b *testing.B) {
	p := parsePlan(b, `
users: 1
duration: 1m
tasks:
  - name: home
    url: http://127.0.0.1:1/home
`)
	benchmarks := []struct {
		name    string
		failure string
	}{
		{"success", ""},
		{"failure", "HTTP 500 Internal Server Error"},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			e := newEngine(b, p, onlyShare(p))
			u := e.newUser(0)
			task := e.tasks[0]
			b.ReportAllocs()
			for i := range b.N {
				u.record(task.steps[0].slot, time.Duration(i%1000)*time.Microsecond, 2, bm.failure)
			}
			b.StopTimer()
			if got := total(e.Collect()); got.Requests != uint64(b.N) {
				b.Fatalf("Collect counts %d requests, want %d", got.Requests, b.N)
			}
		})
	}
}
