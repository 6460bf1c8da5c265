package bus_test

import (
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
)

// FuzzDecodeReport feeds arbitrary bytes to the report decoder, which
// reads messages that anyone allowed to publish on the report subjects
// can send. It must reject them with ErrBadReport or return a report whose
// figures merge safely.
func FuzzDecodeReport(f *testing.F) {
	valid := sampleReport()
	data, err := bus.EncodeReport(valid)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	open := sampleReport()
	open.Dropped = 12
	for i := range open.Tasks {
		open.Tasks[i].Service.Record(time.Millisecond)
		open.Tasks[i].Service.Record(2 * time.Millisecond)
		open.Tasks[i].Service.Record(3 * time.Millisecond)
	}
	if data, err = bus.EncodeReport(open); err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{})
	f.Add([]byte{0xc1})
	f.Add([]byte(`{"run":"x"}`))
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := bus.DecodeReport(data)
		if err != nil {
			if !errors.Is(err, bus.ErrBadReport) {
				t.Fatalf("error %v does not wrap ErrBadReport", err)
			}
			return
		}
		var total stats.Task
		for i := range r.Tasks {
			task := &r.Tasks[i]
			if task.Failures > task.Requests || task.Latency.Count() != task.Requests {
				t.Fatalf("accepted task %q with counts that disagree", task.Name)
			}
			total.Merge(task)
			_ = task.Latency.Quantile(0.99)
			_ = task.Service.Quantile(0.99)
		}
		again, err := bus.EncodeReport(r)
		if err != nil {
			t.Fatalf("encode an accepted report: %v", err)
		}
		if _, err := bus.DecodeReport(again); err != nil {
			t.Fatalf("decode an accepted report again: %v", err)
		}
	})
}

func TestDecodeReportRejectsHugeLengths(t *testing.T) {
	tests := map[string][]byte{
		// {"tasks": [3,000,000 items]} with no items behind it.
		"array of tasks":   {0x81, 0xa5, 't', 'a', 's', 'k', 's', 0xdd, 0x00, 0x2d, 0xc6, 0xc0},
		"string of 4 GiB":  {0x81, 0xa3, 'r', 'u', 'n', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"map of 1 billion": {0xdf, 0x40, 0x00, 0x00, 0x00},
		"deep nesting":     append(bytesOf(0x91, 40), 0xc0),
		"unused type byte": {0xc1},
	}
	for name, data := range tests {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := bus.DecodeReport(data)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, bus.ErrBadReport) {
			t.Errorf("%s: error %v, want ErrBadReport", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: decoding allocated %d bytes", name, grew)
		}
	}
}

// bytesOf returns n copies of b.
func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}
