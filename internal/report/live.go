package report

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/barrage-load/barrage/internal/coordinator"
)

// LiveView redraws a compact table of a run's statistics on a terminal
// every interval. Log lines written through it appear above the table. It
// is safe for concurrent use.
type LiveView struct {
	mu    sync.Mutex
	out   io.Writer
	width int    // terminal columns; longer lines are cut
	drawn int    // lines of the table now on screen
	frame []byte // the table as last drawn
}

// NewLiveView returns a view drawing on out, a terminal width columns wide.
func NewLiveView(out io.Writer, width int) *LiveView {
	if width <= 0 {
		width = 120
	}
	return &LiveView{out: out, width: width}
}

// Write prints p, log lines, above the table.
func (v *LiveView) Write(p []byte) (int, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	n, err := v.out.Write(p)
	v.draw()
	return n, err
}

// Update redraws the table with a new snapshot.
func (v *LiveView) Update(s coordinator.Snapshot) {
	frame := v.render(s)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	v.frame = frame
	v.draw()
}

// Close erases the table, so that the final summary follows the log.
func (v *LiveView) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	v.frame = nil
}

// clear moves the cursor to the first line of the table and erases it
// and everything below.
func (v *LiveView) clear() {
	if v.drawn > 0 {
		fmt.Fprintf(v.out, "\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

func (v *LiveView) draw() {
	if len(v.frame) == 0 {
		return
	}
	v.out.Write(v.frame)
	v.drawn = bytes.Count(v.frame, []byte{'\n'})
}

// render builds the table: a status line with a progress bar, a line of
// fleet totals, then one row per task.
func (v *LiveView) render(s coordinator.Snapshot) []byte {
	l := s.Live
	var b bytes.Buffer
	elapsed := time.Duration(l.ElapsedS * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(&b, "%s  %-8s %8s  %s %3.0f%%\n", l.Run, l.State, elapsed, bar(l.Progress, 30), 100*l.Progress)
	fmt.Fprintf(&b, "users %d  workers %d  rps %.1f  requests %d  failures %d (%.2f%%)\n",
		l.Users, l.Workers, l.RPS, l.Requests, l.Failures, 100*l.FailureRate)
	if l.ServiceMS != nil || l.DroppedArrivals > 0 {
		fmt.Fprintf(&b, "dropped arrivals %d", l.DroppedArrivals)
		if l.ServiceMS != nil {
			fmt.Fprintf(&b, "  service ms p50 %.2f p99 %.2f", l.ServiceMS.P50, l.ServiceMS.P99)
		}
		b.WriteByte('\n')
	}

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	writeTaskRows(tw, s.Tasks, coordinator.TaskSummary{
		Name: "total", Requests: l.Requests, Failures: l.Failures, RPS: l.RPS, LatencyMS: l.LatencyMS,
	})
	tw.Flush()

	// Lines longer than the terminal would wrap and break the redraw.
	lines := strings.SplitAfter(b.String(), "\n")
	var out bytes.Buffer
	for _, line := range lines {
		line = strings.TrimSuffix(line, "\n")
		if len(line) > v.width-1 {
			line = line[:v.width-1]
		}
		if line != "" {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// bar returns a progress bar of width cells for a fraction from 0 to 1.
func bar(fraction float64, width int) string {
	fraction = min(max(fraction, 0), 1)
	done := int(fraction * float64(width))
	return "[" + strings.Repeat("#", done) + strings.Repeat(".", width-done) + "]"
}
