package coordinator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

// BenchmarkMergeReport measures what the coordinator does with each
// report of a plan with 20 tasks: decode it and merge it into the
// aggregate. Each task of the report has 50 latencies spread
// log-normally around 2 ms.
func BenchmarkMergeReport(b *testing.B) {
	var yaml strings.Builder
	yaml.WriteString("users: 1\nduration: 1m\ntasks:\n")
	for i := range 20 {
		fmt.Fprintf(&yaml, "  - name: task%02d\n    url: http://127.0.0.1:9/\n", i+1)
	}
	p, err := plan.Parse([]byte(yaml.String()))
	if err != nil {
		b.Fatalf("parse plan: %v", err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	r := &bus.Report{Run: testRun, Worker: "w-1", Users: 1, Sent: time.Now()}
	for _, pt := range p.Tasks {
		t := stats.Task{Name: pt.Name}
		for range 50 {
			ms := math.Exp(math.Log(2) + 0.6*rng.NormFloat64())
			t.Latency.Record(time.Duration(ms * float64(time.Millisecond)))
			t.Requests++
		}
		r.Tasks = append(r.Tasks, t)
	}

	// The aggregate merges each sequence number once, so the benchmark
	// cycles through distinct reports and starts a new aggregate after
	// each cycle.
	encoded := make([][]byte, 1000)
	for i := range encoded {
		r.Seq = uint64(i + 1)
		if encoded[i], err = bus.EncodeReport(r); err != nil {
			b.Fatal(err)
		}
	}
	agg := newAggregate(testRun, p)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(encoded) {
			agg, i = newAggregate(testRun, p), 0
		}
		rep, err := bus.DecodeReport(encoded[i])
		if err != nil {
			b.Fatal(err)
		}
		if !agg.add(rep, time.Now()) {
			b.Fatalf("report %d was not merged", rep.Seq)
		}
		i++
	}
}
