package report

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/coordinator"
	"github.com/barrage-load/barrage/internal/stats"
)

var chartIDs = []string{"chart-rps", "chart-users", "chart-failures", "chart-latency"}

// scriptMessage is an error message that would run JavaScript if the page
// did not escape it.
const scriptMessage = `GET /search?q=<script>alert("x")</script>: status 500 & more`

// urlMessage is an error message with a URL, which may appear as text.
const urlMessage = `Get "http://127.0.0.1:8080/cart": dial tcp 127.0.0.1:8080: connection refused`

// testSummary returns a summary of four tasks, two errors and a history
// of points report intervals of 2 s each.
func testSummary(points int) *coordinator.Summary {
	started := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	s := &coordinator.Summary{
		Run:         "shop-x7k2q9",
		Started:     started,
		Ended:       started.Add(time.Duration(points) * 2 * time.Second),
		DurationS:   float64(points) * 2,
		Requests:    40210,
		Failures:    312,
		FailureRate: 312.0 / 40210,
		Bytes:       52_428_800,
		RPS:         402.1,
		LatencyMS:   coordinator.Latency{P50: 12.4, P90: 31, P95: 42.5, P99: 88.2, P999: 140, Max: 311.9, Mean: 17.3},
		Tasks: []coordinator.TaskSummary{
			testTask("home", 20000, 12, 200, 10),
			testTask("cart.add", 10000, 280, 100, 15),
			testTask("checkout_v2", 10000, 20, 100, 18),
			testTask("search-api", 210, 0, 2.1, 30),
		},
		Errors: []stats.ErrorCount{
			{Message: scriptMessage, Count: 280},
			{Message: urlMessage, Count: 32},
		},
		Workers:  3,
		Lost:     1,
		Complete: false,
		Problem:  "1 worker left without a final report",
	}
	for i := range points {
		elapsed := float64(i+1) * 2
		workers := 3
		if i >= points*3/5 {
			workers = 2
		}
		requests := uint64(800 + 100*math.Sin(float64(i)/5))
		failures := uint64(i % 7)
		p50 := 10 + 2*math.Sin(float64(i)/3)
		s.History = append(s.History, coordinator.Point{
			Time:        started.Add(time.Duration(elapsed * float64(time.Second))),
			ElapsedS:    elapsed,
			Users:       min(100, 10*(i+1)),
			Workers:     workers,
			Requests:    requests,
			Failures:    failures,
			FailureRate: float64(failures) / float64(requests),
			RPS:         float64(requests) / 2,
			LatencyMS:   coordinator.Latency{P50: p50, P95: 3 * p50, P99: 6*p50 + float64(i%11)},
		})
	}
	return s
}

func testTask(name string, requests, failures uint64, rps, p50 float64) coordinator.TaskSummary {
	return coordinator.TaskSummary{
		Name: name, Requests: requests, Failures: failures,
		FailureRate: float64(failures) / float64(requests), RPS: rps,
		LatencyMS: coordinator.Latency{
			P50: p50, P90: 2 * p50, P95: 3 * p50, P99: 5 * p50, P999: 8 * p50, Max: 10 * p50, Mean: 1.2 * p50,
		},
	}
}

// parsedPage contains the parts of a rendered page that the tests check.
type parsedPage struct {
	// charts maps each chart's id to the number of points of each of its
	// polylines.
	charts map[string][]int
	// noData lists the charts that show the "no data" text.
	noData map[string]bool
	// cells is the text of every table cell.
	cells []string
	// networkRefs lists elements, attributes and CSS that could load
	// something, such as a src attribute or a script element.
	networkRefs []string
}

// parsePage reads a page with encoding/xml. With strict set, the page
// must be well-formed XML, which WriteHTML's output is. Without it, HTML
// void elements and entities are accepted, as in a browser's DOM dump.
func parsePage(r io.Reader, strict bool) (parsedPage, error) {
	d := xml.NewDecoder(r)
	d.Strict = strict
	d.Entity = xml.HTMLEntity
	if !strict {
		d.AutoClose = xml.HTMLAutoClose
	}
	p := parsedPage{charts: map[string][]int{}, noData: map[string]bool{}}
	var chart string   // id of the chart being read
	var element string // name of the innermost element being read
	var cell *strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return p, nil
		}
		if err != nil {
			return p, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			element = strings.ToLower(tok.Name.Local)
			p.networkRefs = append(p.networkRefs, networkRefs(tok)...)
			switch element {
			case "svg":
				if attr(tok, "class") == "chart" {
					chart = attr(tok, "id")
					p.charts[chart] = []int{}
				}
			case "polyline":
				if chart != "" {
					p.charts[chart] = append(p.charts[chart], countPoints(attr(tok, "points")))
				}
			case "td":
				cell = &strings.Builder{}
			}
		case xml.EndElement:
			switch strings.ToLower(tok.Name.Local) {
			case "svg":
				chart = ""
			case "td":
				if cell != nil {
					p.cells = append(p.cells, cell.String())
					cell = nil
				}
			}
			element = ""
		case xml.CharData:
			if cell != nil {
				cell.Write(tok)
			}
			if chart != "" && strings.HasPrefix(strings.TrimSpace(string(tok)), "no data") {
				p.noData[chart] = true
			}
			text := strings.ToLower(string(tok))
			if element == "style" && (strings.Contains(text, "url(") || strings.Contains(text, "@import")) {
				p.networkRefs = append(p.networkRefs, "style: "+string(tok))
			}
		}
	}
}

// networkRefs lists what in the start tag e could fetch from the network.
func networkRefs(e xml.StartElement) []string {
	var refs []string
	switch strings.ToLower(e.Name.Local) {
	case "script", "link", "img", "iframe", "object", "embed", "base", "image", "use":
		refs = append(refs, "element <"+e.Name.Local+">")
	}
	for _, a := range e.Attr {
		name := strings.ToLower(a.Name.Local)
		value := strings.ToLower(strings.TrimSpace(a.Value))
		switch {
		case name == "src" || name == "href" || name == "srcset" || name == "action":
			refs = append(refs, fmt.Sprintf("attribute %s=%q on <%s>", a.Name.Local, a.Value, e.Name.Local))
		case strings.Contains(value, "http://") || strings.Contains(value, "https://") ||
			strings.HasPrefix(value, "//") || strings.Contains(value, "url("):
			refs = append(refs, fmt.Sprintf("attribute %s=%q on <%s>", a.Name.Local, a.Value, e.Name.Local))
		}
	}
	return refs
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// countPoints returns the number of "x,y" pairs in a points attribute, or
// -1 when one of them is not a pair of numbers.
func countPoints(points string) int {
	pairs := strings.Fields(points)
	for _, pair := range pairs {
		x, y, ok := strings.Cut(pair, ",")
		if !ok {
			return -1
		}
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return -1
		}
		if _, err := strconv.ParseFloat(y, 64); err != nil {
			return -1
		}
	}
	return len(pairs)
}

func renderHTML(t *testing.T, s *coordinator.Summary) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, s); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.Bytes()
}

func TestWriteHTMLPage(t *testing.T) {
	s := testSummary(50)
	out := renderHTML(t, s)
	p, err := parsePage(bytes.NewReader(out), true)
	if err != nil {
		t.Fatalf("page is not well-formed: %v\n%s", err, out)
	}

	if len(p.charts) != len(chartIDs) {
		t.Errorf("page has %d charts, want %d: %v", len(p.charts), len(chartIDs), p.charts)
	}
	for _, id := range chartIDs {
		lines, ok := p.charts[id]
		if !ok {
			t.Errorf("chart %s is missing", id)
			continue
		}
		if len(lines) == 0 {
			t.Errorf("chart %s has no polyline", id)
		}
		for i, n := range lines {
			if n != 50 {
				t.Errorf("chart %s polyline %d has %d points, want 50", id, i, n)
			}
		}
		if p.noData[id] {
			t.Errorf("chart %s shows no data for a history of 50 points", id)
		}
	}

	for _, task := range s.Tasks {
		if !containsString(p.cells, task.Name) {
			t.Errorf("no table cell contains task %q", task.Name)
		}
	}
	if !containsString(p.cells, "total") {
		t.Error("the tasks table has no total row")
	}
	for _, e := range s.Errors {
		if !containsString(p.cells, e.Message) {
			t.Errorf("no table cell contains error message %q", e.Message)
		}
	}
	if bytes.Contains(bytes.ToLower(out), []byte("<script")) {
		t.Error("page contains a <script tag: the error message was not escaped")
	}
	if len(p.networkRefs) > 0 {
		t.Errorf("page refers to the network: %q", p.networkRefs)
	}
	for _, want := range []string{s.Run, "incomplete: " + s.Problem, "1 lost"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("page does not contain %q", want)
		}
	}
}

func containsString(values []string, want string) bool {
	for _, v := range values {
		if v == want {
			return true
		}
	}
	return false
}

func TestWriteHTMLShortHistory(t *testing.T) {
	for _, points := range []int{0, 1} {
		t.Run(fmt.Sprintf("%d points", points), func(t *testing.T) {
			s := testSummary(points)
			out := renderHTML(t, s)
			p, err := parsePage(bytes.NewReader(out), true)
			if err != nil {
				t.Fatalf("page is not well-formed: %v\n%s", err, out)
			}
			for _, id := range chartIDs {
				lines, ok := p.charts[id]
				if !ok {
					t.Errorf("chart %s is missing", id)
				}
				if len(lines) != 0 {
					t.Errorf("chart %s has %d polylines, want none", id, len(lines))
				}
				if !p.noData[id] {
					t.Errorf("chart %s does not show \"no data\"", id)
				}
			}
			if bytes.Contains(out, []byte("NaN")) || bytes.Contains(out, []byte("Inf")) {
				t.Errorf("page contains NaN or Inf:\n%s", out)
			}
		})
	}
}

func TestWriteHTMLZeroValues(t *testing.T) {
	s := &coordinator.Summary{Run: "idle", Complete: true}
	for i := range 10 {
		s.History = append(s.History, coordinator.Point{ElapsedS: float64(i)})
	}
	out := renderHTML(t, s)
	p, err := parsePage(bytes.NewReader(out), true)
	if err != nil {
		t.Fatalf("page is not well-formed: %v\n%s", err, out)
	}
	for _, id := range chartIDs {
		lines, ok := p.charts[id]
		if !ok {
			t.Errorf("chart %s is missing", id)
		}
		if len(lines) == 0 {
			t.Errorf("chart %s has no polyline", id)
		}
		for i, n := range lines {
			if n != 10 {
				t.Errorf("chart %s polyline %d has %d points, want 10", id, i, n)
			}
		}
	}
	if bytes.Contains(out, []byte("NaN")) || bytes.Contains(out, []byte("Inf")) {
		t.Errorf("page contains NaN or Inf:\n%s", out)
	}
}

func TestWriteHTMLDownsamplesLongHistory(t *testing.T) {
	const points = 2500 // grouped 3 at a time: 834 points
	s := testSummary(points)
	out := renderHTML(t, s)
	p, err := parsePage(bytes.NewReader(out), true)
	if err != nil {
		t.Fatalf("page is not well-formed: %v", err)
	}
	for _, id := range chartIDs {
		for i, n := range p.charts[id] {
			if n != 834 {
				t.Errorf("chart %s polyline %d has %d points, want 834", id, i, n)
			}
		}
	}
	if !bytes.Contains(out, []byte("834 points downsampled from 2500 report intervals")) {
		t.Error("page does not say that the charts are downsampled")
	}
	if len(out) > 300_000 {
		t.Errorf("page is %d bytes, want at most 300000", len(out))
	}
}

func TestDownsampleGroups(t *testing.T) {
	latency := func(ms float64) coordinator.Latency {
		return coordinator.Latency{P50: ms, P95: 2 * ms, P99: 3 * ms}
	}
	history := []coordinator.Point{
		{ElapsedS: 2, Users: 10, Workers: 1, Requests: 100, Failures: 0, RPS: 50, LatencyMS: latency(10)},
		{ElapsedS: 4, Users: 20, Workers: 2, Requests: 200, Failures: 10, RPS: 100, LatencyMS: latency(30)},
		{ElapsedS: 6, Users: 30, Workers: 2, Requests: 300, Failures: 20, RPS: 150, LatencyMS: latency(20)},
		{ElapsedS: 8, Users: 40, Workers: 3, Requests: 0, Failures: 0, RPS: 0, LatencyMS: latency(0)},
		{ElapsedS: 10, Users: 40, Workers: 3, Requests: 400, Failures: 40, RPS: 200, LatencyMS: latency(5)},
	}
	got := downsample(history, 2)
	want := []sample{
		{elapsedS: 6, users: 30, workers: 2, rps: 100, failures: 10, failureRate: 30.0 / 600, p50: 30, p95: 60, p99: 90},
		{elapsedS: 10, users: 40, workers: 3, rps: 100, failures: 20, failureRate: 40.0 / 400, p50: 5, p95: 10, p99: 15},
	}
	if len(got) != len(want) {
		t.Fatalf("downsample returned %d samples, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d is %+v, want %+v", i, got[i], want[i])
		}
	}

	short := downsample(history, 1000)
	if len(short) != len(history) {
		t.Errorf("downsample of %d points with room for 1000 returned %d samples", len(history), len(short))
	}
}

func TestAxisScales(t *testing.T) {
	tests := []struct {
		name      string
		axis      axis
		max, step float64
		intervals int
	}{
		{"zero values", newAxis(0, false), 1, 0.2, 5},
		{"zero integer values", newAxis(0, true), 1, 1, 1},
		{"small integers", newAxis(3, true), 3, 1, 3},
		{"integers", newAxis(7, true), 8, 2, 4},
		{"fractions", newAxis(0.37, false), 0.4, 0.1, 4},
		{"thousands", newAxis(4123, false), 5000, 1000, 5},
		{"exact step", newAxis(500, false), 500, 100, 5},
		{"aligned", alignedAxis(37, false, 4), 40, 10, 4},
		{"aligned zero", alignedAxis(0, false, 4), 2, 0.5, 4},
		{"aligned integers", alignedAxis(2, true, 5), 5, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if math.Abs(tt.axis.max-tt.max) > 1e-9 {
				t.Errorf("max is %v, want %v", tt.axis.max, tt.max)
			}
			if math.Abs(tt.axis.step-tt.step) > 1e-9 {
				t.Errorf("step is %v, want %v", tt.axis.step, tt.step)
			}
			if tt.axis.intervals != tt.intervals {
				t.Errorf("intervals is %d, want %d", tt.axis.intervals, tt.intervals)
			}
		})
	}
}

func TestTickLabel(t *testing.T) {
	tests := []struct {
		v, step, axisMax float64
		want             string
	}{
		{0, 0.2, 1, "0.0"},
		{0.4, 0.2, 1, "0.4"},
		{0.15, 0.05, 0.2, "0.15"},
		{300, 100, 500, "300"},
		{20000, 5000, 25000, "20k"},
		{1500, 500, 25000, "1.5k"},
		{2e6, 1e6, 5e6, "2M"},
	}
	for _, tt := range tests {
		if got := tickLabel(tt.v, tt.step, tt.axisMax); got != tt.want {
			t.Errorf("tickLabel(%v, %v, %v) = %q, want %q", tt.v, tt.step, tt.axisMax, got, tt.want)
		}
	}
}

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// chromiumTimeout bounds each run of the browser.
const chromiumTimeout = 60 * time.Second

// TestWriteHTMLInChromium renders the page in headless Chromium, checks
// the DOM it built and takes a screenshot.
func TestWriteHTMLInChromium(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("BARRAGE_NO_BROWSER") == "1" {
			t.Skipf("BARRAGE_NO_BROWSER=1 is set and %s is missing", chromiumPath)
		}
		t.Fatalf("%s is missing: run scripts/test.sh or `apt-get install chromium`, "+
			"or set BARRAGE_NO_BROWSER=1 to skip this test", chromiumPath)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, renderHTML(t, testSummary(50)), 0o644); err != nil {
		t.Fatal(err)
	}
	pageURL := (&url.URL{Scheme: "file", Path: page}).String()

	t.Run("dom", func(t *testing.T) {
		dom := runChromium(t, "--dump-dom", pageURL)
		p, err := parsePage(bytes.NewReader(dom), false)
		if err != nil {
			t.Fatalf("parse the DOM that chromium dumped: %v\n%s", err, dom)
		}
		for _, id := range chartIDs {
			lines, ok := p.charts[id]
			if !ok {
				t.Errorf("chart %s is missing from the DOM", id)
				continue
			}
			if len(lines) == 0 {
				t.Errorf("chart %s has no polyline in the DOM", id)
			}
			for i, n := range lines {
				if n != 50 {
					t.Errorf("chart %s polyline %d has %d points in the DOM, want 50", id, i, n)
				}
			}
		}
		if !containsString(p.cells, scriptMessage) {
			t.Errorf("the DOM has no table cell with the text %q", scriptMessage)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		shot := filepath.Join(t.TempDir(), "page.png")
		runChromium(t, "--screenshot="+shot, "--window-size=1280,2000", pageURL)
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("chromium wrote no screenshot: %v", err)
		}
		if len(data) < 20_000 {
			t.Errorf("screenshot is %d bytes, want at least 20000", len(data))
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("decode the screenshot: %v", err)
		}
		if got := img.Bounds().Dx(); got != 1280 {
			t.Errorf("screenshot is %d pixels wide, want 1280", got)
		}
		colors, blue, red := pixelStats(img)
		if colors < 32 {
			t.Errorf("screenshot has %d distinct colors, want at least 32", colors)
		}
		// The first line of each chart is blue and the second red.
		if blue < 200 {
			t.Errorf("screenshot has %d blue pixels, want at least 200 from the chart lines", blue)
		}
		if red < 200 {
			t.Errorf("screenshot has %d red pixels, want at least 200 from the chart lines", red)
		}
	})
}

// pixelStats returns the number of distinct colors in img and the number
// of clearly blue and clearly red pixels.
func pixelStats(img image.Image) (colors, blue, red int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[[3]uint32{r, g, bl}] = true
			if bl > r+80 && bl > g+40 {
				blue++
			}
			if r > g+80 && r > bl+80 {
				red++
			}
		}
	}
	return len(seen), blue, red
}

// runChromium runs headless Chromium with a fresh profile and returns its
// standard output.
func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + profile,
	}
	cmd := exec.CommandContext(ctx, chromiumPath, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	// Chromium's helper processes may keep the output pipes open after the
	// browser process is killed. Wait gives up on them after WaitDelay.
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("chromium %s timed out after %s; stderr:\n%s", strings.Join(args, " "), chromiumTimeout, stderr.Bytes())
	}
	if err != nil {
		t.Fatalf("chromium %s failed: %v; stderr:\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}
