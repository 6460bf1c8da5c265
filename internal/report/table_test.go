package report

import (
	"strings"
	"testing"

	"github.com/barrage-load/barrage/internal/coordinator"
)

func TestWriteTableShowsOpenModelFigures(t *testing.T) {
	s := &coordinator.Summary{
		Run: "open", Requests: 10, Workers: 1, Complete: true,
		LatencyMS:       coordinator.Latency{P50: 900},
		ServiceMS:       &coordinator.Latency{P50: 300, P90: 310, P95: 320, P99: 330, P999: 340, Max: 350},
		DroppedArrivals: 42,
	}
	var b strings.Builder
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"latency counts from when each execution was due",
		"service ms: p50 300.00  p90 310.00  p95 320.00  p99 330.00  p99.9 340.00  max 350.00",
		"dropped arrivals: 42, because every user was busy; raise users to run them",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}

	b.Reset()
	s.ServiceMS, s.DroppedArrivals = nil, 0
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "service") || strings.Contains(b.String(), "dropped") {
		t.Errorf("closed-model table mentions the open model:\n%s", b.String())
	}
}
