package bus_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
)

// busyReport returns a report of 20 tasks with 50 requests each, whose
// latencies spread log-normally around 2 ms, like one second of a worker
// that sends 1,000 requests a second to a web server.
func busyReport() *bus.Report {
	rng := rand.New(rand.NewPCG(1, 2))
	r := &bus.Report{Run: "shop-abc123", Worker: "w-1", Seq: 3, Share: 1, Users: 50,
		Elapsed: 3 * time.Second, Sent: time.Unix(1700000000, 0).UTC()}
	for i := range 20 {
		t := stats.Task{Name: fmt.Sprintf("task%02d", i+1)}
		for range 50 {
			ms := math.Exp(math.Log(2) + 0.6*rng.NormFloat64())
			t.Latency.Record(time.Duration(ms * float64(time.Millisecond)))
			t.Requests++
			t.Bytes += 512
		}
		r.Tasks = append(r.Tasks, t)
	}
	return r
}

// BenchmarkBusyReport measures encoding and decoding the report of a busy
// worker: 20 tasks with 50 latencies each.
func BenchmarkBusyReport(b *testing.B) {
	r := busyReport()
	data, err := bus.EncodeReport(r)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bus.EncodeReport(r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data)), "bytes/report")
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := bus.DecodeReport(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
