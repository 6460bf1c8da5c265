//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/coordinator"
)

const (
	// mergeTasks is the number of tasks in each simulated report.
	mergeTasks = 20
	// mergeRequests is the requests per task in each report, so that a
	// worker reports 1,000 requests a second.
	mergeRequests = 50
	// mergeWindow is how long the coordinator's CPU time is measured,
	// once every simulated worker has reported.
	mergeWindow = 10 * time.Second
)

// mergeResult is one run of the merge figure at one fleet size.
type mergeResult struct {
	reportsPerSecond float64 // reports stored by the NATS server over the window
	coordinatorCores float64 // CPU time of the coordinator over the window, in cores
	natsCores        float64 // the same for the NATS server
	mergedShare      float64 // requests merged over the window / requests reported
	rssMiB           float64 // the coordinator's RSS at the end of the window
	reportBytes      [3]int  // min, median and max size of a report
	complete         bool    // the summary counts every request reported
	problem          string
}

// merge measures the coordinator merging the reports of simulated
// workers: the real coordinator binary on loadCore, a NATS server and
// the simulated workers in two processes on targetCore.
func (e *env) merge(ctx context.Context) (Section, error) {
	sizes := []int{100, 250, 500, 1000, 2000, 4000}
	window := mergeWindow
	if e.cfg.Short {
		sizes = []int{10, 50}
		window = 2 * time.Second
	}
	s := Section{Figure: "merge", Title: "The coordinator merging reports"}
	s.Commands = []string{
		e.command("merge"),
		shellJoin(e.display(e.pin.command(targetCore, e.helper, "helper", "nats-server"))),
		shellJoin(e.display(e.pin.command(loadCore, e.coordinator, "start", "PLAN.yaml", "--nats", "URL",
			"--local-workers", "0", "--run", "merge-N", "--report-interval", "1s", "--out", "summary.json", "--log-level", "warn"))),
		shellJoin(e.display(e.pin.command(targetCore, e.helper, "helper", "fake-workers", "-nats", "URL", "-run", "merge-N",
			"-workers", "N", "-requests", strconv.Itoa(mergeRequests)))),
		"# PLAN.yaml, with tasks task01 to task20 alike:\n" + commentLines(strings.SplitAfter(mergePlan(0, window), "/task01\n")[0]),
	}

	var runLoads []float64
	results := make(map[int][]mergeResult)
	measured := sizes[:0:0]
	for _, n := range sizes {
		for run := 1; run <= e.cfg.Runs; run++ {
			load := loadAverage()
			runLoads = append(runLoads, load)
			fmt.Fprintf(e.log, "bench: merge run %d of %d: %d workers (load average %.2f)\n", run, e.cfg.Runs, n, load)
			r, err := e.mergeRun(ctx, n, window)
			if err != nil && len(measured) == 0 {
				return s, fmt.Errorf("%d workers: %w", n, err)
			}
			if err != nil {
				// A larger fleet than the last one measured failed, such as
				// simulated workers that could not renew their leases in time.
				fmt.Fprintf(e.log, "bench: merge with %d workers failed: %v\n", n, err)
				s.Notes = append(s.Notes, fmt.Sprintf("The run with %d workers failed, so no larger fleet was measured: %s.", n, firstLine(err.Error())))
				break
			}
			results[n] = append(results[n], r)
		}
		if len(results[n]) < e.cfg.Runs {
			break
		}
		measured = append(measured, n)
		var cores, reports series
		for _, r := range results[n] {
			cores = append(cores, r.coordinatorCores)
			reports = append(reports, r.reportsPerSecond)
		}
		if cores.median() >= 0.9 {
			s.Notes = append(s.Notes, fmt.Sprintf("The coordinator used %.2f cores at %d workers, so no larger fleet was measured.", cores.median(), n))
			break
		}
		if reports.median() < 0.8*float64(n) {
			s.Notes = append(s.Notes, fmt.Sprintf("At %d workers the simulated workers published only %.0f reports a second on their shared core, so no larger fleet was measured.", n, reports.median()))
			break
		}
	}

	t := Table{Header: []string{"workers", "reports per second", "coordinator cores: min", "median", "max",
		"NATS server cores (median)", "merged / reported", "coordinator RSS, MiB", "bytes per report", "totals exact"}}
	for _, n := range measured {
		var coord, natsCores, merged, rss, reports series
		exact := 0
		var bytes [3]int
		for _, r := range results[n] {
			coord = append(coord, r.coordinatorCores)
			reports = append(reports, r.reportsPerSecond)
			natsCores = append(natsCores, r.natsCores)
			merged = append(merged, r.mergedShare)
			rss = append(rss, r.rssMiB)
			bytes = r.reportBytes
			if r.complete {
				exact++
			}
		}
		lo, mid, hi := coord.spread(fixed(2))
		t.addRow(thousands(float64(n)), thousands(reports.median()), lo, mid, hi, fixed(2)(natsCores.median()),
			fixed(3)(merged.median()), fixed(0)(rss.median()), fmt.Sprintf("%d (%d–%d)", bytes[1], bytes[0], bytes[2]),
			fmt.Sprintf("%d of %d runs", exact, len(results[n])))
	}
	s.Tables = []Table{t}
	s.Conditions = []string{
		fmt.Sprintf("Each simulated worker writes its presence, claims its share, renews both leases and publishes a report of %d tasks with %d requests each through JetStream every second, as a worker does, but sends no HTTP request. "+
			"The coordinator, the `coordinator start` binary with --nats, runs on core %d; the NATS server and the simulated workers run in two other processes on core %d. "+
			"Cores are CPU time, user and system from /proc/PID/stat, over %s once every worker has reported. Reports per second are those the NATS server stored over that time, and merged / reported compares the requests the coordinator's live statistics gained over it with those in these reports. Totals are exact when the summary's requests equal those of every report stored.",
			mergeTasks, mergeRequests, loadCore, targetCore, window),
		loadNote(runLoads),
	}
	return s, nil
}

// mergePlan returns the plan of the merge figure for n workers, or with
// N in place of the number when n is 0. Nothing sends requests to its
// target.
func mergePlan(n int, window time.Duration) string {
	count := "N"
	if n > 0 {
		count = strconv.Itoa(n)
	}
	var tasks strings.Builder
	for i := 1; i <= mergeTasks; i++ {
		fmt.Fprintf(&tasks, "  - name: task%02d\n    url: /task%02d\n", i, i)
	}
	return fmt.Sprintf(`name: merge
target: http://127.0.0.1:9
users: %s
duration: %s
workers:
  min: %s
  join_timeout: 2m
tasks:
%s`, count, window+15*time.Second, count, tasks.String())
}

// mergeRun runs the merge figure once with n simulated workers.
func (e *env) mergeRun(ctx context.Context, n int, window time.Duration) (mergeResult, error) {
	var res mergeResult
	natsProc, err := e.pin.start(ctx, targetCore, nil, e.helper, "helper", "nats-server")
	if err != nil {
		return res, err
	}
	defer natsProc.kill()
	url, err := helperLine(ctx, natsProc, "nats-url", 30*time.Second)
	if err != nil {
		return res, err
	}

	run := "merge-" + strconv.Itoa(n)
	planPath := e.scratch(run + ".yaml")
	if err := os.WriteFile(planPath, []byte(mergePlan(n, window)), 0o644); err != nil {
		return res, err
	}
	summaryPath := e.scratch(run + "-summary.json")
	coord, err := e.pin.start(ctx, loadCore, nil, e.coordinator, "start", planPath, "--nats", url,
		"--local-workers", "0", "--run", run, "--report-interval", "1s", "--out", summaryPath, "--log-level", "warn")
	if err != nil {
		return res, err
	}
	defer coord.kill()
	fakes, err := e.pin.start(ctx, targetCore, nil, e.helper, "helper", "fake-workers", "-nats", url, "-run", run,
		"-workers", strconv.Itoa(n), "-requests", strconv.Itoa(mergeRequests))
	if err != nil {
		return res, err
	}
	defer fakes.kill()

	f := &fleet{e: e, run: run, natsURL: url}
	live, err := f.watch(ctx, "summary")
	if err != nil {
		return res, err
	}
	defer live.close()
	if _, err := helperLine(ctx, fakes, "reporting", 2*time.Minute); err != nil {
		return res, fmt.Errorf("%w\ncoordinator output:\n%s", err, coord.tail())
	}

	// The window runs from one live summary to the one a window later, so
	// that the requests merged are read at both ends of it.
	began, first, err := waitFor(ctx, live, time.Now(), 10*time.Second, func(coordinator.Live) bool { return true })
	if err != nil {
		return res, fmt.Errorf("live statistics: %w", err)
	}
	storedStart, err := storedReports(ctx, live)
	if err != nil {
		return res, err
	}
	coordStart, err := procCPU(coord.pid())
	if err != nil {
		return res, err
	}
	natsStart, err := procCPU(natsProc.pid())
	if err != nil {
		return res, err
	}
	ended, last, err := waitFor(ctx, live, began.Add(window-100*time.Millisecond), window+10*time.Second,
		func(coordinator.Live) bool { return true })
	if err != nil {
		return res, fmt.Errorf("live statistics: %w", err)
	}
	storedEnd, err := storedReports(ctx, live)
	if err != nil {
		return res, err
	}
	coordEnd, err := procCPU(coord.pid())
	if err != nil {
		return res, err
	}
	natsEnd, err := procCPU(natsProc.pid())
	if err != nil {
		return res, err
	}
	rss, err := procRSS(coord.pid())
	if err != nil {
		return res, err
	}
	elapsed := ended.Sub(began)
	res.coordinatorCores = float64(coordEnd-coordStart) / float64(elapsed)
	res.natsCores = float64(natsEnd-natsStart) / float64(elapsed)
	res.rssMiB = float64(rss) / (1 << 20)
	res.reportsPerSecond = float64(storedEnd-storedStart) / elapsed.Seconds()
	reported := float64(storedEnd-storedStart) * mergeTasks * mergeRequests
	res.mergedShare = float64(last.Requests-first.Requests) / reported

	// A run that exited with 1 is incomplete, and its summary gives the
	// reason.
	if err := coord.wait(window + 2*time.Minute); errors.Is(err, errStillRunning) {
		return res, fmt.Errorf("coordinator: %w", err)
	}
	if err := fakes.wait(time.Minute); err != nil {
		return res, fmt.Errorf("simulated workers: %w", err)
	}
	line, err := helperLine(ctx, fakes, "result", time.Second)
	if err != nil {
		return res, err
	}
	var fr fakeFleetResult
	if err := json.Unmarshal([]byte(line), &fr); err != nil {
		return res, fmt.Errorf("read the simulated workers' result %q: %w", line, err)
	}
	res.reportBytes = fr.ReportBytes
	data, err := os.ReadFile(summaryPath)
	if err != nil {
		return res, fmt.Errorf("read summary: %w", err)
	}
	var sum coordinator.Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		return res, fmt.Errorf("read summary: %w", err)
	}
	res.complete = sum.Complete && int64(sum.Requests) == fr.Requests && fr.Failed == 0 && sum.RejectedMessages == 0
	if !res.complete {
		res.problem = fmt.Sprintf("summary: %d requests, complete %v (%s), %d rejected messages; workers: %d requests in %d reports, %d publishes failed",
			sum.Requests, sum.Complete, sum.Problem, sum.RejectedMessages, fr.Requests, fr.Reports, fr.Failed)
		fmt.Fprintf(e.log, "bench: merge with %d workers: %s\n", n, res.problem)
	}
	return res, nil
}

// storedReports returns how many reports the NATS server of w has
// stored. Each run of the merge figure starts a new server, so they are
// all of that run.
func storedReports(ctx context.Context, w *statsWatch) (uint64, error) {
	js, err := jetstream.New(w.nc)
	if err != nil {
		return 0, err
	}
	stream, err := js.Stream(ctx, bus.ReportStream)
	if err != nil {
		return 0, fmt.Errorf("open stream %s: %w", bus.ReportStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", bus.ReportStream, err)
	}
	return info.State.Msgs, nil
}

// firstLine returns the first line of text.
func firstLine(text string) string {
	line, _, _ := strings.Cut(text, "\n")
	return line
}
