package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/barrage-load/barrage/internal/coordinator"
)

// maxChartPoints is the maximum number of points per line in the charts
// of the HTML page.
const maxChartPoints = 1000

// WriteHTML writes the summary as one self-contained HTML page: the run's
// header, its totals, four charts of the history, a table of the tasks,
// with the rows of their steps under them, and a table of the errors. The charts are inline SVG, and the page loads
// nothing from the network and runs no JavaScript. All text from the
// summary, such as task names and error messages, is escaped.
//
// A history of more than 1000 points is downsampled for the charts. Its
// points are grouped k = ceil(len/1000) at a time in order, and each group
// becomes one point: the elapsed time, users and workers of the group's
// last point, the mean requests per second and failures per interval, the
// failure rate of the group's summed requests and failures, and the
// maximum of each latency percentile, so that short spikes stay visible.
// The summary and the tables always show the exact totals.
func WriteHTML(w io.Writer, s *coordinator.Summary) error {
	samples := downsample(s.History, maxChartPoints)
	page := htmlPage{
		S:             s,
		Total:         totalTask(s),
		HistoryPoints: len(s.History),
		ChartPoints:   len(samples),
	}
	for _, spec := range chartSpecs {
		page.Charts = append(page.Charts, layoutChart(spec, samples))
	}
	return pageTemplate.Execute(w, page)
}

// htmlPage is the data of pageTemplate.
type htmlPage struct {
	S      *coordinator.Summary
	Total  coordinator.TaskSummary
	Charts []chartView
	// HistoryPoints and ChartPoints are the number of history points
	// before and after downsampling.
	HistoryPoints, ChartPoints int
}

func totalTask(s *coordinator.Summary) coordinator.TaskSummary {
	return coordinator.TaskSummary{
		Name: "total", Requests: s.Requests, Failures: s.Failures,
		FailureRate: s.FailureRate, Bytes: s.Bytes, RPS: s.RPS, LatencyMS: s.LatencyMS,
	}
}

// sample is one point of the charts, downsampled from one or more history
// points.
type sample struct {
	elapsedS    float64
	users       float64
	workers     float64
	rps         float64
	failures    float64 // per report interval
	failureRate float64 // from 0 to 1
	p50         float64
	p95         float64
	p99         float64
}

// downsample turns history into at most maxPoints samples by the rule in
// the WriteHTML documentation.
func downsample(history []coordinator.Point, maxPoints int) []sample {
	k := (len(history) + maxPoints - 1) / maxPoints
	k = max(k, 1)
	out := make([]sample, 0, (len(history)+k-1)/k)
	for start := 0; start < len(history); start += k {
		group := history[start:min(start+k, len(history))]
		last := group[len(group)-1]
		s := sample{
			elapsedS: last.ElapsedS,
			users:    float64(last.Users),
			workers:  float64(last.Workers),
		}
		var requests, failures uint64
		for _, p := range group {
			requests += p.Requests
			failures += p.Failures
			s.rps += p.RPS
			s.p50 = max(s.p50, p.LatencyMS.P50)
			s.p95 = max(s.p95, p.LatencyMS.P95)
			s.p99 = max(s.p99, p.LatencyMS.P99)
		}
		n := float64(len(group))
		s.rps /= n
		s.failures = float64(failures) / n
		if requests > 0 {
			s.failureRate = float64(failures) / float64(requests)
		}
		out = append(out, s)
	}
	return out
}

// chartSpec describes one chart: its series and the axes they use.
type chartSpec struct {
	id, title string
	// yLabel and y2Label name the units of the left and right axes. A chart
	// without right-axis series has no y2Label.
	yLabel, y2Label string
	// Integer axes have ticks at whole numbers only.
	yInteger, y2Integer bool
	series              []seriesSpec
}

type seriesSpec struct {
	name  string
	right bool // plotted against the right axis
	value func(sample) float64
}

var chartSpecs = []chartSpec{
	{
		id: "chart-rps", title: "Requests per second", yLabel: "requests/s",
		series: []seriesSpec{
			{name: "requests/s", value: func(s sample) float64 { return s.rps }},
		},
	},
	{
		id: "chart-users", title: "Users and workers", yLabel: "users", y2Label: "workers",
		yInteger: true, y2Integer: true,
		series: []seriesSpec{
			{name: "users", value: func(s sample) float64 { return s.users }},
			{name: "workers (right axis)", right: true, value: func(s sample) float64 { return s.workers }},
		},
	},
	{
		id: "chart-failures", title: "Failures per report interval", yLabel: "failures",
		y2Label: "failure rate %", yInteger: true,
		series: []seriesSpec{
			{name: "failures", value: func(s sample) float64 { return s.failures }},
			{name: "failure rate % (right axis)", right: true, value: func(s sample) float64 { return 100 * s.failureRate }},
		},
	},
	{
		id: "chart-latency", title: "Latency per report interval", yLabel: "ms",
		series: []seriesSpec{
			{name: "p50", value: func(s sample) float64 { return s.p50 }},
			{name: "p95", value: func(s sample) float64 { return s.p95 }},
			{name: "p99", value: func(s sample) float64 { return s.p99 }},
		},
	},
}

// Chart geometry in SVG user units. The plot area is the box inside the
// margins.
const (
	chartWidth        = 560
	chartHeight       = 260
	chartMarginLeft   = 64
	chartMarginRight  = 64
	chartMarginTop    = 52
	chartMarginBottom = 40
	chartYTicks       = 5 // maximum number of intervals on the y axes
	chartXTicks       = 6 // about the number of intervals on the x axis
	legendCharWidth   = 6.2
)

// chartView is the data of one chart in pageTemplate, in SVG user units.
type chartView struct {
	ID, Title     string
	Width, Height int
	// Left, Right, Top and Bottom are the edges of the plot area, and
	// MidX and MidY its center.
	Left, Right, Top, Bottom float64
	MidX, MidY               float64
	// NoData is set when there are fewer than two points, so no line can
	// be drawn.
	NoData          bool
	XLabel          string
	YLabel, Y2Label string
	XTicks          []tickView
	YTicks, Y2Ticks []tickView
	Series          []seriesView
}

type tickView struct {
	Pos   float64 // x on the x axis, y on the y axes
	Label string
}

type seriesView struct {
	Name  string
	Class string // CSS class that sets the line's color
	// Points is the polyline's points attribute, "x,y x,y ...".
	Points string
	// LegendX is the x position of the series' legend entry.
	LegendX float64
}

// layoutChart computes the axes, ticks and polylines of one chart.
func layoutChart(spec chartSpec, samples []sample) chartView {
	c := chartView{
		ID: spec.id, Title: spec.title,
		Width: chartWidth, Height: chartHeight,
		Left: chartMarginLeft, Right: chartWidth - chartMarginRight,
		Top: chartMarginTop, Bottom: chartHeight - chartMarginBottom,
		YLabel: spec.yLabel, Y2Label: spec.y2Label,
		NoData: len(samples) < 2,
	}
	c.MidX, c.MidY = (c.Left+c.Right)/2, (c.Top+c.Bottom)/2
	legendX := c.Left
	for i, ser := range spec.series {
		c.Series = append(c.Series, seriesView{
			Name: ser.name, Class: "c" + strconv.Itoa(i), LegendX: legendX,
		})
		legendX += 40 + legendCharWidth*float64(len(ser.name))
	}
	if c.NoData {
		return c
	}

	xPos := layoutXAxis(&c, samples)
	var yMax, y2Max float64
	for _, ser := range spec.series {
		for _, s := range samples {
			if ser.right {
				y2Max = max(y2Max, plotValue(ser.value(s)))
			} else {
				yMax = max(yMax, plotValue(ser.value(s)))
			}
		}
	}
	left := newAxis(yMax, spec.yInteger)
	right := alignedAxis(y2Max, spec.y2Integer, left.intervals)
	c.YTicks = left.ticks(c.Top, c.Bottom)
	if spec.y2Label != "" {
		c.Y2Ticks = right.ticks(c.Top, c.Bottom)
	}

	for i, ser := range spec.series {
		a := left
		if ser.right {
			a = right
		}
		var b strings.Builder
		for j, s := range samples {
			if j > 0 {
				b.WriteByte(' ')
			}
			y := c.Bottom - plotValue(ser.value(s))/a.max*(c.Bottom-c.Top)
			fmt.Fprintf(&b, "%.1f,%.1f", xPos(s.elapsedS), y)
		}
		c.Series[i].Points = b.String()
	}
	return c
}

// layoutXAxis sets the x ticks and label of c and returns the x position
// of an elapsed time in seconds. The axis runs from 0, the start of the
// run, to the last sample, in seconds, minutes or hours by its length.
func layoutXAxis(c *chartView, samples []sample) func(elapsedS float64) float64 {
	xMin := min(0, samples[0].elapsedS)
	xMax := samples[len(samples)-1].elapsedS
	span := xMax - xMin
	if !(span > 0) {
		span = 1
	}
	xPos := func(v float64) float64 { return c.Left + (v-xMin)/span*(c.Right-c.Left) }

	unit, perUnit := "s", 1.0
	switch {
	case span > 36000:
		unit, perUnit = "h", 3600
	case span > 600:
		unit, perUnit = "min", 60
	}
	c.XLabel = "elapsed (" + unit + ")"
	step := niceStep(span / perUnit / chartXTicks)
	for i := math.Ceil(xMin / perUnit / step); i*step <= xMax/perUnit+step*1e-9; i++ {
		v := i * step
		c.XTicks = append(c.XTicks, tickView{
			Pos:   roundTenth(xPos(v * perUnit)),
			Label: tickLabel(v, step, xMax/perUnit),
		})
	}
	return xPos
}

// axis is a y axis from 0 to max, with ticks every step.
type axis struct {
	max, step float64
	intervals int
}

// newAxis returns an axis from 0 that covers maxValue in at most
// chartYTicks intervals of a nice step.
func newAxis(maxValue float64, integer bool) axis {
	if !(maxValue > 0) {
		maxValue = 1
	}
	step := niceStep(maxValue / chartYTicks)
	if integer {
		step = max(step, 1)
	}
	n := max(1, int(math.Ceil(maxValue/step-1e-9)))
	return axis{max: step * float64(n), step: step, intervals: n}
}

// alignedAxis returns an axis from 0 that covers maxValue in exactly
// intervals intervals, so that its ticks line up with another axis.
func alignedAxis(maxValue float64, integer bool, intervals int) axis {
	if !(maxValue > 0) {
		maxValue = 1
	}
	step := niceStep(maxValue / float64(intervals))
	if integer {
		step = max(step, 1)
	}
	return axis{max: step * float64(intervals), step: step, intervals: intervals}
}

// ticks returns the tick positions from bottom, at 0, to top, at a.max.
func (a axis) ticks(top, bottom float64) []tickView {
	out := make([]tickView, 0, a.intervals+1)
	for i := 0; i <= a.intervals; i++ {
		v := float64(i) * a.step
		y := bottom - v/a.max*(bottom-top)
		out = append(out, tickView{Pos: roundTenth(y), Label: tickLabel(v, a.step, a.max)})
	}
	return out
}

// niceStep returns the smallest of 1, 2 and 5 times a power of ten that is
// at least x.
func niceStep(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// tickLabel formats v with as many decimals as step needs, in thousands
// ("k") or millions ("M") when the axis reaches 10,000 or 1,000,000.
func tickLabel(v, step, axisMax float64) string {
	suffix := ""
	switch {
	case axisMax >= 1e6:
		v, step, suffix = v/1e6, step/1e6, "M"
	case axisMax >= 1e4:
		v, step, suffix = v/1e3, step/1e3, "k"
	}
	decimals := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	return strconv.FormatFloat(v, 'f', decimals, 64) + suffix
}

// plotValue returns v, or 0 for NaN, infinities and negative values,
// which no chart has room for.
func plotValue(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

func roundTenth(v float64) float64 { return math.Round(v*10) / 10 }

// groupDigits formats n with a thin space between groups of three digits.
func groupDigits(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u2009")
		}
		b.WriteRune(r)
	}
	return b.String()
}

// formatBytes formats n in bytes with a binary unit.
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	value, exp := float64(n), 0
	for value >= unit && exp < 5 {
		value /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", value, "KMGTP"[exp-1])
}

var pageFuncs = template.FuncMap{
	"count":   groupDigits,
	"bytes":   formatBytes,
	"percent": func(rate float64) string { return fmt.Sprintf("%.2f %%", 100*rate) },
	"fixed1":  func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"ms":      func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"timestamp": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05.000 MST")
	},
	"add": func(a, b float64) float64 { return a + b },
}

var pageTemplate = template.Must(template.New("page").Funcs(pageFuncs).Parse(pageHTML))

// pageHTML is the page's template. It is well-formed XML as well as HTML,
// so that tests can check its structure with encoding/xml: void elements
// end with "/>" and the CSS contains no '<' or '&'.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>Barrage run {{.S.Run}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; color: #1f2937; max-width: 1180px; margin: 0 auto; padding: 16px 24px; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
.meta { margin: 0; color: #4b5563; }
.meta span { margin-right: 18px; white-space: nowrap; }
.ok { color: #15803d; font-weight: 600; }
.bad { color: #b91c1c; font-weight: 600; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 8px; }
.figure { border: 1px solid #e5e7eb; border-radius: 4px; padding: 6px 10px; }
.figure b { display: block; font-size: 17px; font-variant-numeric: tabular-nums; }
.figure small { color: #6b7280; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px; }
svg.chart { width: 100%; height: auto; border: 1px solid #e5e7eb; border-radius: 4px; }
svg text { font-size: 11px; fill: #4b5563; }
svg .title { font-size: 13px; font-weight: 600; fill: #111827; }
svg .nodata { font-size: 14px; fill: #9ca3af; }
svg .grid { stroke: #eef0f3; }
svg .axis { stroke: #9ca3af; }
svg polyline, svg .swatch { fill: none; stroke-width: 1.6; stroke-linejoin: round; }
svg .swatch { stroke-width: 3; }
.c0 { stroke: #2563eb; } .c1 { stroke: #dc2626; } .c2 { stroke: #16a34a; } .c3 { stroke: #9333ea; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e5e7eb; text-align: right; }
th { background: #f9fafb; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid #d1d5db; }
tr.step td { color: #4b5563; }
tr.step td:first-child { padding-left: 28px; }
td.message { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-word; max-width: 900px; }
.note { color: #6b7280; font-size: 12px; }
</style>
</head>
<body>
<header>
<h1>Barrage run {{.S.Run}}</h1>
<p class="meta">
<span>started {{timestamp .S.Started}}</span>
<span>ended {{timestamp .S.Ended}}</span>
<span>duration {{fixed1 .S.DurationS}} s</span>
<span>workers {{.S.Workers}}{{if .S.Lost}}, {{.S.Lost}} lost{{end}}</span>
{{if .S.Complete}}<span class="ok" id="status">complete</span>{{else}}<span class="bad" id="status">incomplete: {{.S.Problem}}</span>{{end}}
</p>
</header>

<h2>Summary</h2>
<div class="figures" id="summary">
<div class="figure"><small>requests</small><b>{{count .S.Requests}}</b></div>
<div class="figure"><small>failures</small><b>{{count .S.Failures}}</b></div>
<div class="figure"><small>failure rate</small><b>{{percent .S.FailureRate}}</b></div>
<div class="figure"><small>requests/s</small><b>{{fixed1 .S.RPS}}</b></div>
<div class="figure"><small>received</small><b>{{bytes .S.Bytes}}</b></div>
<div class="figure"><small>p50 ms</small><b>{{ms .S.LatencyMS.P50}}</b></div>
<div class="figure"><small>p90 ms</small><b>{{ms .S.LatencyMS.P90}}</b></div>
<div class="figure"><small>p95 ms</small><b>{{ms .S.LatencyMS.P95}}</b></div>
<div class="figure"><small>p99 ms</small><b>{{ms .S.LatencyMS.P99}}</b></div>
<div class="figure"><small>p99.9 ms</small><b>{{ms .S.LatencyMS.P999}}</b></div>
<div class="figure"><small>max ms</small><b>{{ms .S.LatencyMS.Max}}</b></div>
<div class="figure"><small>mean ms</small><b>{{ms .S.LatencyMS.Mean}}</b></div>
</div>

<h2>Over time</h2>
<div class="charts">
{{range .Charts}}{{template "chart" .}}{{end}}
</div>
{{if gt .HistoryPoints .ChartPoints}}<p class="note">The charts show {{.ChartPoints}} points downsampled from {{.HistoryPoints}} report intervals: rates and failures are means, latencies the maximum of each group.</p>{{end}}

<h2>Tasks</h2>
<table id="tasks">
<thead><tr><th>task</th><th>requests</th><th>failures</th><th>failure rate</th><th>requests/s</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th><th>mean ms</th></tr></thead>
<tbody>
{{range .S.Tasks}}{{template "task" .}}{{end}}
</tbody>
<tfoot>{{with .Total}}<tr class="total">{{template "cells" .}}</tr>{{end}}</tfoot>
</table>

<h2>Errors</h2>
{{if .S.Errors}}<table id="errors">
<thead><tr><th>message</th><th>count</th></tr></thead>
<tbody>
{{range .S.Errors}}<tr><td class="message">{{.Message}}</td><td>{{count .Count}}</td></tr>
{{end}}</tbody>
</table>{{else}}<p id="errors">No errors.</p>{{end}}
</body>
</html>
{{define "task"}}<tr>{{template "cells" .}}</tr>
{{range .Steps}}<tr class="step">{{template "cells" .}}</tr>
{{end}}{{end}}
{{define "cells"}}<td>{{.Name}}</td><td>{{count .Requests}}</td><td>{{count .Failures}}</td><td>{{percent .FailureRate}}</td><td>{{fixed1 .RPS}}</td><td>{{ms .LatencyMS.P50}}</td><td>{{ms .LatencyMS.P90}}</td><td>{{ms .LatencyMS.P95}}</td><td>{{ms .LatencyMS.P99}}</td><td>{{ms .LatencyMS.P999}}</td><td>{{ms .LatencyMS.Max}}</td><td>{{ms .LatencyMS.Mean}}</td>{{end}}
{{define "chart"}}<svg class="chart" id="{{.ID}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-labelledby="{{.ID}}-title">
<title id="{{.ID}}-title">{{.Title}}</title>
<text class="title" x="{{.Left}}" y="20">{{.Title}}</text>
{{range .Series}}<line class="swatch {{.Class}}" x1="{{.LegendX}}" y1="34" x2="{{add .LegendX 18}}" y2="34" /><text x="{{add .LegendX 24}}" y="38">{{.Name}}</text>
{{end}}{{range .YTicks}}<line class="grid" x1="{{$.Left}}" y1="{{.Pos}}" x2="{{$.Right}}" y2="{{.Pos}}" /><text x="{{add $.Left -6}}" y="{{add .Pos 4}}" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Y2Ticks}}<text x="{{add $.Right 6}}" y="{{add .Pos 4}}">{{.Label}}</text>
{{end}}{{range .XTicks}}<line class="axis" x1="{{.Pos}}" y1="{{$.Bottom}}" x2="{{.Pos}}" y2="{{add $.Bottom 4}}" /><text x="{{.Pos}}" y="{{add $.Bottom 16}}" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}" />
<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}" />
{{if .Y2Label}}<line class="axis" x1="{{.Right}}" y1="{{.Top}}" x2="{{.Right}}" y2="{{.Bottom}}" />
<text transform="translate({{add .Right 52}} {{.MidY}}) rotate(90)" text-anchor="middle">{{.Y2Label}}</text>
{{end}}<text transform="translate(16 {{.MidY}}) rotate(-90)" text-anchor="middle">{{.YLabel}}</text>
{{if .NoData}}<text class="nodata" x="{{.MidX}}" y="{{.MidY}}" text-anchor="middle">no data (fewer than 2 report intervals)</text>
{{else}}<text x="{{.MidX}}" y="{{add .Bottom 34}}" text-anchor="middle">{{.XLabel}}</text>
{{range .Series}}<polyline class="{{.Class}}" points="{{.Points}}" />
{{end}}{{end}}</svg>
{{end}}`
