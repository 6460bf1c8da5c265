package coordinator

import (
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/bus"
	"github.com/barrage-load/barrage/internal/plan"
	"github.com/barrage-load/barrage/internal/stats"
)

const testRun = "run-1"

// newTestAggregate returns an aggregate for a plan with the tasks home and
// search.
func newTestAggregate(t *testing.T) *aggregate {
	t.Helper()
	p, err := plan.Parse([]byte(`
users: 4
duration: 1m
tasks:
  - name: home
    url: http://127.0.0.1:8080/
  - name: search
    url: http://127.0.0.1:8080/search
`))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	return newAggregate(testRun, p)
}

// taskStats returns the statistics of one task: requests with a latency of
// 1 ms each, of which failures failed with status 500.
func taskStats(name string, requests, failures uint64) stats.Task {
	st := stats.Task{Name: name, Requests: requests, Failures: failures, Bytes: 10 * requests}
	for range requests {
		st.Latency.Record(time.Millisecond)
	}
	for range failures {
		st.RecordError("HTTP 500 Internal Server Error")
	}
	return st
}

// newReport returns a report of run testRun with seq requests to home, so
// that totals show which reports were merged.
func newReport(worker string, seq uint64, users int) *bus.Report {
	return &bus.Report{
		Run:    testRun,
		Worker: worker,
		Seq:    seq,
		Share:  0,
		Users:  users,
		Tasks:  []stats.Task{taskStats("home", seq, 0)},
	}
}

// requests returns the total requests of the task at index i, and checks
// that its histogram agrees.
func requests(t *testing.T, a *aggregate, i int) uint64 {
	t.Helper()
	st := &a.total[i]
	if st.Latency.Count() != st.Requests {
		t.Errorf("task %q: histogram counts %d, requests %d", st.Name, st.Latency.Count(), st.Requests)
	}
	return st.Requests
}

func TestAggregateMergesDuplicateOnce(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	r := newReport("w1", 1, 2)
	r.Tasks = []stats.Task{taskStats("home", 5, 1), taskStats("search", 3, 0)}

	if !a.add(r, now) {
		t.Fatalf("first add of seq 1 was rejected")
	}
	if a.add(r, now) {
		t.Errorf("second add of seq 1 was merged")
	}

	if got := requests(t, a, 0); got != 5 {
		t.Errorf("home requests = %d, want 5", got)
	}
	if got := requests(t, a, 1); got != 3 {
		t.Errorf("search requests = %d, want 3", got)
	}
	if got := a.total[0].Failures; got != 1 {
		t.Errorf("home failures = %d, want 1", got)
	}
	if got := a.total[0].Errors["HTTP 500 Internal Server Error"]; got != 1 {
		t.Errorf("home error count = %d, want 1", got)
	}
	if a.dropped != 1 {
		t.Errorf("dropped = %d, want 1", a.dropped)
	}
}

func TestAggregateOutOfOrderSeqs(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	// Seq n carries n requests, so the total shows which were merged.
	for _, seq := range []uint64{3, 1, 2} {
		if !a.add(newReport("w1", seq, 1), now) {
			t.Errorf("seq %d was rejected on first arrival", seq)
		}
	}
	if got := requests(t, a, 0); got != 1+2+3 {
		t.Errorf("home requests = %d after seqs 3, 1, 2, want 6", got)
	}

	for _, seq := range []uint64{2, 3, 1} {
		if a.add(newReport("w1", seq, 1), now) {
			t.Errorf("repeat of seq %d was merged", seq)
		}
	}
	if got := requests(t, a, 0); got != 6 {
		t.Errorf("home requests = %d after repeats, want 6", got)
	}
	if a.dropped != 3 {
		t.Errorf("dropped = %d, want 3", a.dropped)
	}

	// A gap stays open until its seq arrives, and a repeat ahead of the
	// gap is still caught.
	if !a.add(newReport("w1", 5, 1), now) {
		t.Errorf("seq 5 was rejected")
	}
	if a.add(newReport("w1", 5, 1), now) {
		t.Errorf("repeat of seq 5 ahead of the gap at 4 was merged")
	}
	if !a.add(newReport("w1", 4, 1), now) {
		t.Errorf("seq 4 was rejected")
	}
	if got := requests(t, a, 0); got != 6+5+4 {
		t.Errorf("home requests = %d after seqs 5 and 4, want 15", got)
	}
	if w := a.workers["w1"]; w.next != 6 || len(w.ahead) != 0 {
		t.Errorf("worker expects seq %d with %d seqs ahead, want 6 and none", w.next, len(w.ahead))
	}
}

func TestAggregateSeqsArePerWorker(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	if !a.add(newReport("w1", 1, 1), now) {
		t.Errorf("seq 1 of w1 was rejected")
	}
	if !a.add(newReport("w2", 1, 1), now) {
		t.Errorf("seq 1 of w2 was rejected as a repeat of w1's")
	}
	if got := requests(t, a, 0); got != 2 {
		t.Errorf("home requests = %d, want 2", got)
	}
}

func TestAggregateDropsOtherRun(t *testing.T) {
	a := newTestAggregate(t)
	r := newReport("w1", 1, 4)
	r.Run = "run-2"

	if a.add(r, time.Now()) {
		t.Errorf("report of another run was merged")
	}
	if got := requests(t, a, 0); got != 0 {
		t.Errorf("home requests = %d, want 0", got)
	}
	if a.dropped != 1 {
		t.Errorf("dropped = %d, want 1", a.dropped)
	}
	if n := a.users(); n != 0 {
		t.Errorf("users() = %d, want 0", n)
	}
	if len(a.workers) != 0 {
		t.Errorf("report of another run registered %d workers", len(a.workers))
	}
}

func TestAggregateFinalMarksShare(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	r := newReport("w1", 1, 3)
	r.Share = 2
	if !a.add(r, now) {
		t.Fatalf("seq 1 was rejected")
	}
	if a.finals[2] {
		t.Errorf("share 2 marked final before its final report")
	}

	final := newReport("w1", 2, 3)
	final.Share = 2
	final.Final = true
	if !a.add(final, now.Add(time.Second)) {
		t.Fatalf("final report was rejected")
	}

	if !a.finals[2] {
		t.Errorf("share 2 not marked final")
	}
	if len(a.finals) != 1 {
		t.Errorf("finals = %v, want only share 2", a.finals)
	}
	w := a.workers["w1"]
	if !w.final {
		t.Errorf("worker not marked final")
	}
	if w.share != 2 {
		t.Errorf("worker share = %d, want 2", w.share)
	}
	if !w.lastReport.Equal(now.Add(time.Second)) {
		t.Errorf("worker last report at %v, want the final's time", w.lastReport)
	}
	if n := a.users(); n != 0 {
		t.Errorf("users() = %d after the final report, want 0", n)
	}
	if got := requests(t, a, 0); got != 1+2 {
		t.Errorf("home requests = %d, want the final report's merged too: 3", got)
	}
}

func TestAggregateUsersSumsLatestPerWorker(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	a.add(newReport("w1", 1, 5), now)
	a.add(newReport("w2", 1, 3), now)
	if n := a.users(); n != 8 {
		t.Errorf("users() = %d, want 5 + 3", n)
	}

	a.add(newReport("w1", 2, 7), now)
	if n := a.users(); n != 10 {
		t.Errorf("users() = %d after w1 reported 7, want 7 + 3", n)
	}

	// A repeat of an older report must not bring back its user count.
	a.add(newReport("w1", 1, 5), now)
	if n := a.users(); n != 10 {
		t.Errorf("users() = %d after a repeat of w1's seq 1, want 10", n)
	}
}

func TestAggregateLateReportAfterFinal(t *testing.T) {
	// NOTE: add sets a worker's users from whichever report arrives last,
	// so a report with a lower seq that arrives after the final one
	// counts its users again for a share that has ended. Remove this skip
	// once add keeps the users of the highest seq merged.
	a := newTestAggregate(t)
	now := time.Now()
	a.add(newReport("w1", 1, 5), now)
	final := newReport("w1", 3, 0)
	final.Final = true
	a.add(final, now)

	if !a.add(newReport("w1", 2, 5), now) {
		t.Fatalf("late seq 2 was rejected")
	}
	if n := a.users(); n != 0 {
		t.Errorf("users() = %d after the final report and a late seq 2, want 0", n)
	}
	if got := requests(t, a, 0); got != 1+2+3 {
		t.Errorf("home requests = %d, want 6", got)
	}
}

func TestAggregateTakeInterval(t *testing.T) {
	a := newTestAggregate(t)
	now := time.Now()
	r := newReport("w1", 1, 1)
	r.Tasks = []stats.Task{taskStats("home", 4, 1), taskStats("search", 2, 0)}
	r.Dropped = 3
	a.add(r, now)

	first, dropped := a.takeInterval()
	if dropped != 3 {
		t.Errorf("takeInterval dropped arrivals = %d, want 3", dropped)
	}
	if len(first) != 2 {
		t.Fatalf("takeInterval returned %d tasks, want 2", len(first))
	}
	if first[0].Name != "home" || first[1].Name != "search" {
		t.Errorf("takeInterval names = %q, %q, want home, search", first[0].Name, first[1].Name)
	}
	if first[0].Requests != 4 || first[0].Failures != 1 || first[0].Latency.Count() != 4 {
		t.Errorf("home interval = %d requests, %d failures, %d latencies, want 4, 1, 4",
			first[0].Requests, first[0].Failures, first[0].Latency.Count())
	}
	if first[1].Requests != 2 {
		t.Errorf("search interval = %d requests, want 2", first[1].Requests)
	}

	second, dropped := a.takeInterval()
	if dropped != 0 || a.arrivalsDropped != 3 {
		t.Errorf("next interval dropped arrivals = %d with %d in total, want 0 and 3", dropped, a.arrivalsDropped)
	}
	for _, st := range second {
		if st.Requests != 0 || st.Failures != 0 || st.Bytes != 0 || st.Latency.Count() != 0 || len(st.Errors) != 0 {
			t.Errorf("task %q in the next interval has %d requests, %d failures, %d bytes, %d latencies and errors %v, want none",
				st.Name, st.Requests, st.Failures, st.Bytes, st.Latency.Count(), st.Errors)
		}
	}
	if got := requests(t, a, 0); got != 4 {
		t.Errorf("home total = %d after takeInterval, want 4", got)
	}
	if got := a.total[0].Failures; got != 1 {
		t.Errorf("home total failures = %d after takeInterval, want 1", got)
	}

	// The interval returned must not share memory with the one that
	// keeps counting.
	a.add(newReport("w1", 2, 1), now)
	if first[0].Requests != 4 || first[0].Latency.Count() != 4 {
		t.Errorf("earlier interval changed to %d requests after a new report", first[0].Requests)
	}
	if third, _ := a.takeInterval(); third[0].Requests != 2 {
		got := third[0].Requests
		t.Errorf("home interval = %d requests, want 2", got)
	}
}

func TestAggregateIgnoresUnknownTask(t *testing.T) {
	a := newTestAggregate(t)
	r := newReport("w1", 1, 1)
	r.Tasks = []stats.Task{taskStats("checkout", 9, 9), taskStats("search", 2, 0)}

	if !a.add(r, time.Now()) {
		t.Fatalf("report with an unknown task was rejected")
	}
	if got := requests(t, a, 0); got != 0 {
		t.Errorf("home requests = %d, want 0", got)
	}
	if got := requests(t, a, 1); got != 2 {
		t.Errorf("search requests = %d, want 2", got)
	}
	if len(a.total) != 2 {
		t.Errorf("totals have %d tasks, want 2", len(a.total))
	}
	if a.dropped != 0 {
		t.Errorf("dropped = %d, want 0", a.dropped)
	}
}

// stepStats returns the statistics of one step of task, as a worker
// reports them.
func stepStats(task, step string, requests, failures uint64) stats.Task {
	st := taskStats(task, requests, failures)
	st.Step = step
	return st
}

func TestAggregateMergesSteps(t *testing.T) {
	p, err := plan.Parse([]byte(`
users: 4
duration: 1m
tasks:
  - name: home
    url: http://127.0.0.1:8080/
  - name: flow
    steps:
      - {name: login, url: 'http://127.0.0.1:8080/login'}
      - {name: profile, url: 'http://127.0.0.1:8080/profile'}
`))
	if err != nil {
		t.Fatalf("parse plan: %v", err)
	}
	a := newAggregate(testRun, p)
	now := time.Now()
	r1 := newReport("w1", 1, 2)
	r1.Tasks = []stats.Task{
		taskStats("home", 4, 0),
		stepStats("flow", "login", 5, 1),
		stepStats("flow", "profile", 3, 2),
		stepStats("flow", "logout", 7, 0), // not in the plan
		stepStats("home", "login", 9, 0),  // home has no steps
		taskStats("flow", 11, 0),          // flow reports per step only
	}
	r2 := newReport("w2", 1, 2)
	r2.Tasks = []stats.Task{stepStats("flow", "login", 2, 0)}
	a.add(r1, now)
	a.add(r2, now)

	if got := requests(t, a, 0); got != 4 {
		t.Errorf("home requests = %d, want 4", got)
	}
	flow := a.total[1]
	if flow.Requests != 10 || flow.Failures != 3 {
		t.Errorf("flow: %d requests and %d failures, want the sum of its steps, 10 and 3", flow.Requests, flow.Failures)
	}
	login, profile := a.stepTotal[1][0], a.stepTotal[1][1]
	if login.Name != "login" || login.Requests != 7 || login.Failures != 1 {
		t.Errorf("login = %q with %d requests and %d failures, want login, 7 and 1", login.Name, login.Requests, login.Failures)
	}
	if profile.Name != "profile" || profile.Requests != 3 || profile.Failures != 2 {
		t.Errorf("profile = %q with %d requests and %d failures, want profile, 3 and 2", profile.Name, profile.Requests, profile.Failures)
	}
	if a.stepTotal[0] != nil {
		t.Errorf("home has step statistics: %+v", a.stepTotal[0])
	}

	interval := a.takeStepInterval()
	if got := interval[1][0].Requests; got != 7 {
		t.Errorf("interval login requests = %d, want 7", got)
	}
	if got := a.takeStepInterval()[1][0].Requests; got != 0 {
		t.Errorf("second interval login requests = %d, want 0", got)
	}
	if got := a.stepTotal[1][0].Requests; got != 7 {
		t.Errorf("login total = %d after takeStepInterval, want 7", got)
	}

	_, summaries := summarize(a.total, 2)
	addSteps(summaries, a.stepTotal, 2)
	if summaries[0].Steps != nil {
		t.Errorf("home summary has steps: %+v", summaries[0].Steps)
	}
	steps := summaries[1].Steps
	if len(steps) != 2 || steps[0].Name != "login" || steps[1].Name != "profile" {
		t.Fatalf("flow summary steps = %+v, want login and profile", steps)
	}
	if steps[0].RPS != 3.5 || steps[1].FailureRate != 2.0/3 {
		t.Errorf("steps rps %v and failure rate %v, want 3.5 and 0.667", steps[0].RPS, steps[1].FailureRate)
	}
}
