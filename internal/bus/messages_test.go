package bus_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/stats"
)

func sampleReport() *bus.Report {
	r := &bus.Report{Run: "shop-abc123", Worker: "w-1", Seq: 3, Share: 1, Users: 7,
		Elapsed: 3 * time.Second, Sent: time.Unix(1700000000, 0).UTC()}
	task := stats.Task{Name: "home", Requests: 3, Failures: 1, Bytes: 300}
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond, 500 * time.Millisecond} {
		task.Latency.Record(d)
	}
	task.RecordError("HTTP 503 Service Unavailable")
	r.Tasks = []stats.Task{task}
	return r
}

func TestReportRoundTrip(t *testing.T) {
	in := sampleReport()
	data, err := bus.EncodeReport(in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	out, err := bus.DecodeReport(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if out.Run != in.Run || out.Worker != in.Worker || out.Seq != in.Seq || out.Users != in.Users {
		t.Errorf("header: got %+v, want %+v", out, in)
	}
	if !out.Sent.Equal(in.Sent) {
		t.Errorf("sent: got %v, want %v", out.Sent, in.Sent)
	}
	got, want := out.Tasks[0], in.Tasks[0]
	if got.Requests != want.Requests || got.Failures != want.Failures || got.Bytes != want.Bytes {
		t.Errorf("task counts: got %+v, want %+v", got, want)
	}
	if got.Latency.Max() != 500*time.Millisecond {
		t.Errorf("max latency: got %v, want 500ms", got.Latency.Max())
	}
	if got.Errors["HTTP 503 Service Unavailable"] != 1 {
		t.Errorf("errors: got %v", got.Errors)
	}
}

func TestDecodeReportRejectsBadInput(t *testing.T) {
	mutate := func(f func(r *bus.Report)) []byte {
		r := sampleReport()
		f(r)
		data, err := msgpack.Marshal(r)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		return data
	}
	cases := map[string][]byte{
		"garbage":                []byte("not msgpack at all"),
		"empty":                  {},
		"json":                   []byte(`{"run":"x","worker":"y","seq":1}`),
		"run id with a dot":      mutate(func(r *bus.Report) { r.Run = "a.b" }),
		"empty worker id":        mutate(func(r *bus.Report) { r.Worker = "" }),
		"sequence zero":          mutate(func(r *bus.Report) { r.Seq = 0 }),
		"more failures":          mutate(func(r *bus.Report) { r.Tasks[0].Failures = 10 }),
		"latency count mismatch": mutate(func(r *bus.Report) { r.Tasks[0].Requests = 99 }),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := bus.DecodeReport(data)
			if !errors.Is(err, bus.ErrBadReport) {
				t.Fatalf("got %v, want ErrBadReport", err)
			}
		})
	}
}

func BenchmarkEncodeReport(b *testing.B) {
	r := sampleReport()
	for range 19 {
		r.Tasks = append(r.Tasks, r.Tasks[0])
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		data, err := bus.EncodeReport(r)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes/report")
}

func BenchmarkDecodeReport(b *testing.B) {
	r := sampleReport()
	for range 19 {
		r.Tasks = append(r.Tasks, r.Tasks[0])
	}
	data, err := bus.EncodeReport(r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.DecodeReport(data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReportCarriesStep(t *testing.T) {
	in := sampleReport()
	step := in.Tasks[0]
	step.Step = "login"
	in.Tasks = append(in.Tasks, step)
	data, err := bus.EncodeReport(in)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	out, err := bus.DecodeReport(data)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(out.Tasks) != 2 || out.Tasks[0].Step != "" || out.Tasks[1].Step != "login" {
		t.Errorf("steps after decoding = %q and %q, want none and login", out.Tasks[0].Step, out.Tasks[1].Step)
	}

	// A task without a step leaves the key out, so reports of plans
	// without steps keep their size.
	var raw struct {
		Tasks []map[string]any `msgpack:"tasks"`
	}
	if err := msgpack.Unmarshal(data, &raw); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	fields := raw.Tasks
	if _, ok := fields[0]["s"]; ok {
		t.Errorf("task without a step has the key s: %v", fields[0])
	}
	if fields[1]["s"] != "login" {
		t.Errorf("step key s = %v, want login", fields[1]["s"])
	}
}
