package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/testutil"
)

// BenchmarkColdStart measures how long a new worker takes from the start
// of its process to its first request, in a run that waits for it. It
// starts the worker in two ways: through the runtime interface emulator,
// whose first invocation starts the bootstrap process, and as a plain
// worker process. Each iteration runs a new run with a coordinator in
// this process and a new target. bench/coldstart.sh runs it, and the
// figures are in BENCHMARKS.md.
func BenchmarkColdStart(b *testing.B) {
	srv := testutil.StartNATS(b)
	ctx := context.Background()
	nc := connectBus(ctx, b, srv.URL(), "coldstart")

	b.Run("lambda-emulator", func(b *testing.B) {
		emulatorBin := testutil.RIE(b)
		bootstrap := testutil.LambdaBootstrap(b)
		measureColdStarts(b, nc, func(run string) func() {
			emu := testutil.StartEmulator(b, emulatorBin, bootstrap, 10*time.Second)
			event := fmt.Sprintf(`{"run":%q,"slots":1,"nats_url":%q}`, run, srv.URL())
			go invoke(emu.URL, event)
			return emu.Process.Kill
		})
	})
	b.Run("process", func(b *testing.B) {
		_, workerBin := testutil.BuildBinaries(b)
		measureColdStarts(b, nc, func(run string) func() {
			p := testutil.StartProcess(b, workerBin, "--nats", srv.URL(), "--run", run, "--slots", "1")
			return p.Kill
		})
	})
}

// measureColdStarts runs b.N runs; start starts a worker for the run and
// returns a function that stops it. It reports the median and the
// maximum time from start to the target's first request.
func measureColdStarts(b *testing.B, nc *bus.Bus, start func(run string) (stop func())) {
	var times []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		target := testutil.NewTarget(b, nil)
		run := fmt.Sprintf("cold-%d-%d", time.Now().UnixNano(), i)
		stopRun := startBenchRun(b, nc, run, target.URL)

		b.StartTimer()
		begin := time.Now()
		stopWorker := start(run)
		for target.Total() == 0 {
			if time.Since(begin) > 30*time.Second {
				b.Fatalf("run %s: no request within 30s", run)
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		times = append(times, target.Arrivals()[0].Sub(begin))
		stopRun()
		stopWorker()
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2])/1e6, "median-ms")
	b.ReportMetric(float64(times[len(times)-1])/1e6, "max-ms")
}

// startBenchRun announces a run of one user against target with a
// coordinator in this process, and returns once it is announced. The
// returned function stops the run and waits for the coordinator.
func startBenchRun(b *testing.B, nc *bus.Bus, run, target string) func() {
	b.Helper()
	p, err := plan.Parse([]byte(fmt.Sprintf("target: %s\nusers: 1\nduration: 1m\nmax_rps: 50\ngraceful_stop: 1s\ntasks:\n  - {name: home, url: /}\n", target)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		coordinator.Run(ctx, nc, coordinator.Config{
			Plan: p, RunID: run, ReportInterval: reportIntervalDuration, Lease: leaseDuration,
			Logger: slog.New(slog.DiscardHandler),
		})
	}()
	testutil.Eventually(b, 10*time.Second, func() bool {
		_, err := nc.KV.Get(context.Background(), bus.RunKey(run))
		return err == nil
	}, "run %s is announced", run)
	return func() {
		cancel()
		<-done
	}
}
