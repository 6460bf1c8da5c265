package stats

import (
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestTaskCodecKeepsServiceTime(t *testing.T) {
	for _, withService := range []bool{false, true} {
		var in Task
		in.Name = "home"
		in.Requests = 2
		in.Latency.Record(30 * time.Millisecond)
		in.Latency.Record(50 * time.Millisecond)
		if withService {
			in.Service.Record(10 * time.Millisecond)
			in.Service.Record(20 * time.Millisecond)
		}
		data, err := msgpack.Marshal(&in)
		if err != nil {
			t.Fatal(err)
		}
		var out Task
		if err := msgpack.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		if out.Latency.Count() != 2 || out.Latency.Max() != in.Latency.Max() {
			t.Errorf("latency count %d max %v after a round trip, want 2 and %v",
				out.Latency.Count(), out.Latency.Max(), in.Latency.Max())
		}
		if out.Service.Count() != in.Service.Count() || out.Service.Max() != in.Service.Max() {
			t.Errorf("service count %d max %v after a round trip, want %d and %v",
				out.Service.Count(), out.Service.Max(), in.Service.Count(), in.Service.Max())
		}
	}
}

func TestMergeAddsServiceTime(t *testing.T) {
	var a, b Task
	a.Requests, b.Requests = 1, 1
	a.Latency.Record(time.Second)
	b.Latency.Record(time.Second)
	a.Service.Record(time.Millisecond)
	b.Service.Record(2 * time.Millisecond)
	a.Merge(&b)
	if a.Service.Count() != 2 || a.Service.Max() != 2*time.Millisecond {
		t.Errorf("merged service count %d max %v, want 2 and 2ms", a.Service.Count(), a.Service.Max())
	}
	a.Reset()
	if a.Service.Count() != 0 {
		t.Errorf("service count %d after Reset, want 0", a.Service.Count())
	}
}
