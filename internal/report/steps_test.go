package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/barrage-load/barrage/internal/coordinator"
)

// stepsSummary returns a summary with a task without steps and a task
// with two steps.
func stepsSummary() *coordinator.Summary {
	flow := testTask("login_flow", 300, 20, 30, 12)
	flow.Steps = []coordinator.TaskSummary{
		testTask("login", 160, 0, 16, 10),
		testTask("profile", 140, 20, 14, 14),
	}
	return &coordinator.Summary{
		Run: "steps", Complete: true, ThresholdsPassed: true,
		Requests: 1300, Failures: 20,
		Tasks: []coordinator.TaskSummary{testTask("home", 1000, 0, 100, 5), flow},
	}
}

func TestWriteTableIndentsSteps(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, stepsSummary()); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	lines := strings.Split(b.String(), "\n")
	want := []struct{ prefix, requests string }{
		{"task ", "requests"},
		{"home ", "1000"},
		{"login_flow ", "300"},
		{"  login ", "160"},
		{"  profile ", "140"},
		{"total ", "1300"},
	}
	if len(lines) < len(want) {
		t.Fatalf("table has %d lines, want at least %d:\n%s", len(lines), len(want), b.String())
	}
	// Names start in the header's column, and step names two further.
	margin := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
	for i, w := range want {
		if !strings.HasPrefix(lines[i][margin:], w.prefix) {
			t.Errorf("line %d = %q, want it to start with %q", i+1, lines[i], w.prefix)
		}
		if fields := strings.Fields(lines[i]); len(fields) < 2 || fields[1] != w.requests {
			t.Errorf("line %d = %q, want %s in the requests column", i+1, lines[i], w.requests)
		}
	}
}

func TestWriteHTMLListsSteps(t *testing.T) {
	out := renderHTML(t, stepsSummary())
	p, err := parsePage(bytes.NewReader(out), true)
	if err != nil {
		t.Fatalf("page is not well-formed: %v\n%s", err, out)
	}
	for _, name := range []string{"login_flow", "login", "profile"} {
		if !containsString(p.cells, name) {
			t.Errorf("no table cell contains %q", name)
		}
	}
	if n := bytes.Count(out, []byte(`<tr class="step">`)); n != 2 {
		t.Errorf("page has %d step rows, want 2", n)
	}
	flow := bytes.Index(out, []byte("<td>login_flow</td>"))
	login := bytes.Index(out, []byte("<td>login</td>"))
	if flow < 0 || login < flow {
		t.Errorf("the row of step login does not follow its task login_flow")
	}
}
