//go:build linux

package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// TestSmoke runs the throughput figure in short mode, one second per
// tool, and checks that every tool produced a row with requests. It
// checks no timing. It is skipped when a tool is missing, because the
// smoke never installs tools; `task bench` does.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nginx and five load generators for a second each; skipped with -short")
	}
	cfg := withDefaults(Config{Short: true, Figures: []string{"throughput"}, Log: &testLog{t: t}})
	tools := findTools(context.Background(), cfg.Log, cfg.CacheDir, false,
		toolNginx, toolWrk, toolVegeta, toolHey, toolLocust)
	for _, tl := range []tool{toolNginx, toolWrk, toolVegeta, toolHey, toolLocust} {
		if reason, ok := tools.missing[tl.program]; ok {
			t.Skipf("%s is missing: %s", tl.name, reason)
		}
	}
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Root = root

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sections, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(sections) != 1 || len(sections[0].Tables) == 0 {
		t.Fatalf("Run returned %d sections, want 1 with tables", len(sections))
	}
	summary := sections[0].Tables[0]
	want := []string{"Barrage worker", "wrk", "vegeta", "hey", "Locust"}
	if len(summary.Rows) != len(want) {
		t.Fatalf("the summary has %d rows, want one for each of %v:\n%v", len(summary.Rows), want, summary.Rows)
	}
	for i, row := range summary.Rows {
		if row[0] != want[i] {
			t.Errorf("row %d is %s, want %s", i, row[0], want[i])
		}
		// The median requests per second is the fourth column.
		if row[3] == "0" || row[3] == "-" {
			t.Errorf("%s sent no request: %v", row[0], row)
		}
	}

	var md strings.Builder
	WriteMarkdown(&md, sections)
	if !strings.Contains(md.String(), "| Barrage worker |") {
		t.Errorf("the Markdown lacks the Barrage row:\n%s", md.String())
	}
	t.Logf("\n%s", md.String())
}

// testLog sends the harness's progress to the test log.
type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
