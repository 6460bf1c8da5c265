//go:build linux

package bench

import (
	"context"
	"fmt"
	"time"
)

// rateCase is one plan of the rate figure.
type rateCase struct {
	name string
	key  string // max_rps or rate
	rate int
}

// rateAccuracy measures how many requests one worker sends under max_rps
// and under the open model's rate, against the count the plan implies.
func (e *env) rateAccuracy(ctx context.Context) (Section, error) {
	cases := []rateCase{
		{"closed model, 50 users", "max_rps", 1000},
		{"closed model, 50 users", "max_rps", 10000},
		{"open model", "rate", 1000},
		{"open model", "rate", 10000},
	}
	if e.cfg.Short {
		cases = []rateCase{cases[0], cases[2]}
	}
	d := e.cfg.Duration
	s := Section{Figure: "rate", Title: "Planned and achieved rates"}
	s.Commands = append([]string{e.command("rate", "-duration", d.String())}, e.fleetCommands("rate", loadCore, 1)...)
	s.Commands = append(s.Commands, "# PLAN.yaml, closed model:\n"+commentLines(ratePlan(e.target.url, rateCase{key: "max_rps", rate: 1000}, d)),
		"# PLAN.yaml, open model:\n"+commentLines(ratePlan(e.target.url, rateCase{key: "rate", rate: 1000}, d)))

	var runLoads []float64
	type outcome struct{ sent, steady, dropped, p99 series }
	results := make([]outcome, len(cases))
	for run := 1; run <= e.cfg.Runs; run++ {
		for i, c := range cases {
			load := loadAverage()
			runLoads = append(runLoads, load)
			fmt.Fprintf(e.log, "bench: rate run %d of %d: %s %d (load average %.2f)\n", run, e.cfg.Runs, c.key, c.rate, load)
			f, err := e.startFleet(ctx, "rate", ratePlan(e.target.url, c, d), targetCore)
			if err != nil {
				return s, err
			}
			w, err := f.startWorker(ctx, loadCore, 1, "")
			if err != nil {
				f.coordinator.kill()
				return s, err
			}
			sum, err := f.wait(d + time.Minute)
			if werr := w.wait(30 * time.Second); err == nil && werr != nil {
				err = fmt.Errorf("worker: %w", werr)
			}
			if err != nil {
				return s, err
			}
			if sum.Failures > 0 {
				return s, fmt.Errorf("%s %d: %d of %d requests failed: %v; %s", c.key, c.rate, sum.Failures, sum.Requests, sum.Errors, e.target.errorLog())
			}
			planned := float64(c.rate) * d.Seconds()
			results[i].sent = append(results[i].sent, float64(sum.Requests)/planned)
			results[i].dropped = append(results[i].dropped, float64(sum.DroppedArrivals))
			results[i].p99 = append(results[i].p99, sum.LatencyMS.P99)
			// The intervals between the first and the last are whole
			// seconds of the steady state.
			var steady series
			for j := 1; j+1 < len(sum.History); j++ {
				steady = append(steady, sum.History[j].RPS)
			}
			results[i].steady = append(results[i].steady, steady.median()/float64(c.rate))
		}
	}

	t := Table{Header: []string{"plan", "planned per second", "sent / planned: min", "median", "max", "steady rate / planned (median)", "p99 latency, ms (median)", "dropped arrivals (median)"}}
	for i, c := range cases {
		lo, mid, hi := results[i].sent.spread(fixed(4))
		dropped := "-"
		if c.key == "rate" {
			dropped = thousands(results[i].dropped.median())
		}
		t.addRow(fmt.Sprintf("%s, `%s: %d`", c.name, c.key, c.rate), thousands(float64(c.rate)), lo, mid, hi,
			fixed(4)(results[i].steady.median()), fixed(1)(results[i].p99.median()), dropped)
	}
	s.Tables = []Table{t}
	s.Conditions = []string{
		fmt.Sprintf("One worker on core %d (GOMAXPROCS=1), the coordinator and nginx on core %d, %d runs of %s each. "+
			"Sent / planned is the requests of the summary over the rate times the duration. "+
			"The steady rate is the median of the per-second rates of the summary's history, without its first and last second.",
			loadCore, targetCore, e.cfg.Runs, d),
		loadNote(runLoads),
	}
	return s, nil
}

// ratePlan returns the plan of one rate case.
func ratePlan(target string, c rateCase, d time.Duration) string {
	users := "users: 50\nspawn_rate: 5000\n"
	if c.key == "rate" {
		users = "" // the open model's default users: rate times timeout
	}
	return fmt.Sprintf(`name: rate
target: %s
%s%s: %d
duration: %s
tasks:
  - name: home
    url: /
`, target, users, c.key, c.rate, d)
}
