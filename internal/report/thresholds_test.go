package report

import (
	"strings"
	"testing"

	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/threshold"
)

func TestWriteTableListsThresholds(t *testing.T) {
	s := &coordinator.Summary{
		Run:      "shop",
		Complete: true,
		Tasks:    []coordinator.TaskSummary{{Name: "home", Requests: 10}},
		Requests: 10,
		Thresholds: []threshold.Result{
			{Name: "p95 <= 200ms", Metric: threshold.P95, Limit: 200, Value: 350.2, Requests: 10},
			{Name: "home: error_rate <= 1%", Task: "home", Metric: threshold.ErrorRate, Limit: 0.01, Value: 0, Requests: 10, Passed: true},
			{Name: "rps >= 100", Metric: threshold.MinRPS, Limit: 100, Value: 12.5, Requests: 10},
		},
	}
	var b strings.Builder
	if err := WriteTable(&b, s); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	out := b.String()

	_, section, found := strings.Cut(out, "\nthresholds: 2 of 3 failed\n")
	if !found {
		t.Fatalf("output has no line %q:\n%s", "thresholds: 2 of 3 failed", out)
	}
	lines := strings.Split(strings.TrimRight(section, "\n"), "\n")
	want := [][]string{
		{"result", "threshold", "value", "limit"},
		{"FAIL", "p95 <= 200ms", "350.2ms", "200ms"},
		{"pass", "home: error_rate <= 1%", "0%", "1%"},
		{"FAIL", "rps >= 100", "12.5", "100"},
	}
	if len(lines) != len(want) {
		t.Fatalf("thresholds section has %d lines, want %d:\n%s", len(lines), len(want), section)
	}
	for i, cells := range want {
		// Cells are separated by at least two spaces, so names with
		// single spaces stay one cell.
		var got []string
		for _, cell := range strings.Split(strings.TrimSpace(lines[i]), "  ") {
			if cell = strings.TrimSpace(cell); cell != "" {
				got = append(got, cell)
			}
		}
		if strings.Join(got, "|") != strings.Join(cells, "|") {
			t.Errorf("line %d cells = %q, want %q", i+1, got, cells)
		}
	}
}

func TestWriteTableWithoutThresholds(t *testing.T) {
	s := &coordinator.Summary{Run: "shop", Complete: true, ThresholdsPassed: true}
	var b strings.Builder
	if err := WriteTable(&b, s); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	if strings.Contains(b.String(), "thresholds") {
		t.Errorf("output mentions thresholds for a plan without any:\n%s", b.String())
	}
}
