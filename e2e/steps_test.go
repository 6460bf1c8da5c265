package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barrage-load/barrage/internal/testutil"
)

// loginTarget is an HTTP server on loopback with a login that issues
// numbered tokens. It counts the requests and rejections of each endpoint
// and the logins of each user.
//
//	POST /login    {"user": NAME} -> {"token": "tok-N"}
//	GET  /profile  200 for "Authorization: Bearer tok-N" with an issued N
//	               that is not a multiple of 4, 401 otherwise
//	GET  /         200
type loginTarget struct {
	URL string

	mu       sync.Mutex
	counts   map[string]int64 // requests per path
	rejected map[string]int64 // 4xx responses per path
	users    map[string]int   // logins per user
	issued   int
}

func newLoginTarget(t *testing.T) *loginTarget {
	t.Helper()
	tg := &loginTarget{counts: map[string]int64{}, rejected: map[string]int64{}, users: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(srv.Close)
	tg.URL = srv.URL
	return tg
}

func (tg *loginTarget) serve(w http.ResponseWriter, r *http.Request) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.counts[r.URL.Path]++
	reject := func(code int) {
		tg.rejected[r.URL.Path]++
		w.WriteHeader(code)
	}
	switch r.URL.Path {
	case "/login":
		var body struct{ User string }
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.User == "" {
			reject(http.StatusBadRequest)
			return
		}
		tg.users[body.User]++
		tg.issued++
		fmt.Fprintf(w, `{"token": "tok-%d"}`, tg.issued)
	case "/profile":
		n, err := strconv.Atoi(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer tok-"))
		if err != nil || n < 1 || n > tg.issued || n%4 == 0 {
			reject(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"name": "someone"}`)
	default:
		fmt.Fprint(w, "ok")
	}
}

func (tg *loginTarget) count(path string) (requests, rejected uint64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return uint64(tg.counts[path]), uint64(tg.rejected[path])
}

func (tg *loginTarget) logins() map[string]int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := make(map[string]int, len(tg.users))
	for k, v := range tg.users {
		out[k] = v
	}
	return out
}

// stepsSummary is the part of the --out JSON that carries steps.
type stepsSummary struct {
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
	Complete bool   `json:"complete"`
	Problem  string `json:"problem"`
	Tasks    []struct {
		taskSummary
		Steps []taskSummary `json:"steps"`
	} `json:"tasks"`
	Errors []errorCount `json:"errors"`
}

func TestStepFiguresMatchTarget(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := newLoginTarget(t)
	const run = "steps"
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: steps
target: %s
users: 6
spawn_rate: 100
duration: 2m
iterations: 400
workers:
  min: 2
  join_timeout: 30s
tasks:
  - name: home
    url: /
  - name: login_flow
    weight: 3
    steps:
      - name: login
        method: POST
        url: /login
        headers: {Content-Type: application/json}
        body: '{"user": "u${user}"}'
        extract:
          token: {json: $.token}
        expect: {status: [200], body_contains: token}
      - name: profile
        url: /profile
        headers: {Authorization: "Bearer ${token}"}
`, target.URL))
	dir := t.TempDir()
	out := filepath.Join(dir, "summary.json")
	csvPrefix := filepath.Join(dir, "run")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	coord := testutil.StartProcess(t, coordinator, "start", plan,
		"--nats", nats.URL(), "--local-workers", "0", "--run", run, "--out", out, "--csv", csvPrefix,
		"--report-interval", reportInterval, "--lease", lease)
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	checkWorkersExited(t, workers)

	readSummary(t, out) // checks the documented keys
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var s stepsSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("decode summary: %v\n%s", err, data)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q", s.Problem)
	}
	if len(s.Tasks) != 2 {
		t.Fatalf("summary has %d tasks, want 2: %s", len(s.Tasks), data)
	}
	home, flow := s.Tasks[0], s.Tasks[1]
	if home.Steps != nil {
		t.Errorf("task home without steps has steps in the summary: %+v", home.Steps)
	}
	if len(flow.Steps) != 2 || flow.Steps[0].Name != "login" || flow.Steps[1].Name != "profile" {
		t.Fatalf("task login_flow steps = %+v, want login and profile", flow.Steps)
	}

	// Each step's figures equal what its endpoint received.
	login, profile := flow.Steps[0], flow.Steps[1]
	loginRequests, loginRejected := target.count("/login")
	profileRequests, profileRejected := target.count("/profile")
	homeRequests, _ := target.count("/")
	t.Logf("home %d, login %d, profile %d of which %d rejected", homeRequests, loginRequests, profileRequests, profileRejected)
	if login.Requests != loginRequests || login.Failures != loginRejected {
		t.Errorf("step login: %d requests and %d failures, target received %d and rejected %d",
			login.Requests, login.Failures, loginRequests, loginRejected)
	}
	if profile.Requests != profileRequests || profile.Failures != profileRejected {
		t.Errorf("step profile: %d requests and %d failures, target received %d and rejected %d",
			profile.Requests, profile.Failures, profileRequests, profileRejected)
	}
	if profileRejected == 0 {
		t.Errorf("target rejected no profile request; want every fourth token rejected")
	}
	if home.Requests != homeRequests {
		t.Errorf("task home: %d requests, target received %d", home.Requests, homeRequests)
	}
	if flow.Requests != login.Requests+profile.Requests || flow.Failures != login.Failures+profile.Failures {
		t.Errorf("task login_flow: %d requests and %d failures, want the sums of its steps %d and %d",
			flow.Requests, flow.Failures, login.Requests+profile.Requests, login.Failures+profile.Failures)
	}
	// Every login passed, so every execution of the flow sent both steps.
	if home.Requests+login.Requests != 400 || login.Requests != profile.Requests {
		t.Errorf("home %d + login %d executions, profile %d; want 400 executions, each flow with both steps",
			home.Requests, login.Requests, profile.Requests)
	}
	if s.Requests != homeRequests+loginRequests+profileRequests {
		t.Errorf("summary requests = %d, target received %d", s.Requests, homeRequests+loginRequests+profileRequests)
	}

	checkStepRows(t, csvPrefix+"_stats.csv", map[string]uint64{
		"home|":              homeRequests,
		"login_flow|":        loginRequests + profileRequests,
		"login_flow|login":   loginRequests,
		"login_flow|profile": profileRequests,
		"total|":             s.Requests,
	})
}

// checkStepRows checks the requests column of each row of the stats CSV
// at path, keyed by name and step.
func checkStepRows(t *testing.T, path string, want map[string]uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	header := records[0]
	if header[len(header)-1] != "step" {
		t.Fatalf("stats CSV header %q does not end with step", header)
	}
	got := make(map[string]uint64)
	for _, r := range records[1:] {
		n, err := strconv.ParseUint(r[1], 10, 64)
		if err != nil {
			t.Fatalf("row %q: requests %q: %v", r, r[1], err)
		}
		got[r[0]+"|"+r[len(r)-1]] = n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stats CSV requests by name|step = %v, want %v", got, want)
	}
}

func TestDataOnceAcrossTwoWorkers(t *testing.T) {
	t.Parallel()
	coordinator, worker := binaries(t)
	nats := testutil.StartNATS(t)
	target := newLoginTarget(t)
	const run = "data-once"
	const rows = 300
	plan := testutil.WritePlan(t, fmt.Sprintf(`name: data-once
target: %s
users: 6
spawn_rate: 100
workers:
  min: 2
  join_timeout: 30s
data:
  file: users.csv
  mode: once
tasks:
  - name: login
    method: POST
    url: /login
    body: '{"user": "${username}", "password": "${password}"}'
`, target.URL))
	var b strings.Builder
	b.WriteString("username,password\n")
	for i := range rows {
		fmt.Fprintf(&b, "user%d,secret%d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(plan), "users.csv"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "summary.json")

	workers := startWorkers(t, worker, nats.URL(), run, 2)
	began := time.Now()
	coord := startCoordinator(t, coordinator, nats.URL(), run, plan, out)
	if code := waitExit(t, coord, exitTimeout); code != 0 {
		t.Fatalf("coordinator exit code = %d, want 0", code)
	}
	t.Logf("run ended after %s", time.Since(began).Round(time.Millisecond))
	checkWorkersExited(t, workers)

	logins := target.logins()
	if len(logins) != rows {
		t.Errorf("target saw %d distinct users, want all %d rows", len(logins), rows)
	}
	for i := range rows {
		if n := logins[fmt.Sprintf("user%d", i)]; n != 1 {
			t.Errorf("row user%d was used %d times, want once", i, n)
		}
	}
	s := readSummary(t, out)
	if s.Requests != rows || s.Failures != 0 {
		t.Errorf("summary: %d requests and %d failures, want %d and 0: %+v", s.Requests, s.Failures, rows, s.Errors)
	}
	if !s.Complete {
		t.Errorf("complete = false, problem %q", s.Problem)
	}
}
