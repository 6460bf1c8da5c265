package engine

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barrage-load/barrage/internal/stats"
)

// loginTarget is an HTTP server on loopback with a login that issues
// tokens and endpoints that accept only issued tokens. It counts what it
// receives per endpoint.
//
//	POST /login     {"user": NAME} -> {"token": T, "id": 42}, header X-Token: T, 400 without a user
//	GET  /profile   200 with "Authorization: Bearer T" for an issued T, 401 otherwise
//	GET  /item/ID   200 with "X-Auth: T" for an issued T and ID 42, 401 otherwise
//	POST /echo      200 when the header X-Seq equals the body's "seq"
//	GET  /redirect  302 to /login-get
//	GET  /login-get the same as POST /login for the user "redirected"
type loginTarget struct {
	server *httptest.Server

	logins, profileOK, profileRejected atomic.Int64
	itemOK, itemRejected               atomic.Int64
	echoOK, echoRejected               atomic.Int64
	redirects                          atomic.Int64

	mu     sync.Mutex
	issued map[string]bool
	users  map[string]int // logins per user name
}

func newLoginTarget(t testing.TB) *loginTarget {
	t.Helper()
	tg := &loginTarget{issued: make(map[string]bool), users: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var body struct{ User string }
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.User == "" {
			http.Error(w, "missing user", http.StatusBadRequest)
			return
		}
		tg.login(w, body.User)
	})
	mux.HandleFunc("GET /login-get", func(w http.ResponseWriter, r *http.Request) {
		tg.login(w, "redirected")
	})
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		tg.redirects.Add(1)
		http.Redirect(w, r, "/login-get", http.StatusFound)
	})
	mux.HandleFunc("GET /profile", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !tg.valid(token) {
			tg.profileRejected.Add(1)
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		tg.profileOK.Add(1)
		fmt.Fprint(w, `{"name": "someone"}`)
	})
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "42" || !tg.valid(r.Header.Get("X-Auth")) {
			tg.itemRejected.Add(1)
			http.Error(w, "bad item or token", http.StatusUnauthorized)
			return
		}
		tg.itemOK.Add(1)
		fmt.Fprint(w, "item 42")
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Seq  string
			User string
		}
		err := json.NewDecoder(r.Body).Decode(&body)
		if err != nil || body.Seq == "" || body.Seq != r.Header.Get("X-Seq") || body.User != r.Header.Get("X-User") {
			tg.echoRejected.Add(1)
			http.Error(w, "seq mismatch", http.StatusBadRequest)
			return
		}
		tg.echoOK.Add(1)
		fmt.Fprint(w, "ok")
	})
	tg.server = httptest.NewServer(mux)
	t.Cleanup(tg.server.Close)
	return tg
}

// login issues a token for user and writes it as JSON and in X-Token.
func (tg *loginTarget) login(w http.ResponseWriter, user string) {
	n := tg.logins.Add(1)
	token := fmt.Sprintf("tok-%s-%d", user, n)
	tg.mu.Lock()
	tg.issued[token] = true
	tg.users[user]++
	tg.mu.Unlock()
	w.Header().Set("X-Token", token)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"token": %q, "id": 42, "note": "id=42;"}`, token)
}

func (tg *loginTarget) valid(token string) bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.issued[token]
}

// logins returns how many logins each user name made.
func (tg *loginTarget) loginsByUser() map[string]int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := make(map[string]int, len(tg.users))
	for k, v := range tg.users {
		out[k] = v
	}
	return out
}

// stepStats indexes statistics by "task" or "task/step".
func stepStats(tasks []stats.Task) map[string]stats.Task {
	out := make(map[string]stats.Task, len(tasks))
	for _, st := range tasks {
		key := st.Name
		if st.Step != "" {
			key += "/" + st.Step
		}
		out[key] = st
	}
	return out
}

// loginFlow is a plan whose task logs in and sends the token it received
// to /profile. extract is the extractor of the token.
const loginFlow = `
target: %s
users: 4
spawn_rate: 1000
iterations: %d
tasks:
  - name: login_flow
    steps:
      - name: login
        method: POST
        url: /login
        headers: {Content-Type: application/json}
        body: '{"user": "u${user}"}'
        extract:
          token: %s
        expect: {status: [200], body_contains: token}
      - name: profile
        url: /profile
        headers: {Authorization: "Bearer ${token}"}
`

func TestStepsSendExtractedToken(t *testing.T) {
	const iterations = 200
	tg := newLoginTarget(t)
	p := parsePlan(t, loginFlow, tg.server.URL, iterations, "{json: $.token}")
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	if n := tg.logins.Load(); n != iterations {
		t.Errorf("target received %d logins, want %d", n, iterations)
	}
	if n := tg.profileOK.Load(); n != iterations {
		t.Errorf("target accepted %d profile requests, want %d", n, iterations)
	}
	if n := tg.profileRejected.Load(); n != 0 {
		t.Errorf("target rejected %d profile requests, want 0", n)
	}
	for _, key := range []string{"login_flow/login", "login_flow/profile"} {
		st := got[key]
		checkCounts(t, st)
		if st.Requests != iterations || st.Failures != 0 {
			t.Errorf("%s: %d requests and %d failures, want %d and 0: %v", key, st.Requests, st.Failures, iterations, st.Errors)
		}
	}
	if _, ok := got["login_flow"]; ok {
		t.Errorf("Collect returned an entry without a step for a task with steps")
	}
}

func TestStepsWrongTokenFailsSecondStep(t *testing.T) {
	const iterations = 100
	tg := newLoginTarget(t)
	// The id is a number the target never issued as a token.
	p := parsePlan(t, loginFlow, tg.server.URL, iterations, "{json: $.id}")
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	if n := tg.profileRejected.Load(); n != iterations {
		t.Errorf("target rejected %d profile requests, want %d", n, iterations)
	}
	login, profile := got["login_flow/login"], got["login_flow/profile"]
	if login.Requests != iterations || login.Failures != 0 {
		t.Errorf("login: %d requests and %d failures, want %d and 0: %v", login.Requests, login.Failures, iterations, login.Errors)
	}
	if profile.Requests != iterations || profile.Failures != iterations {
		t.Errorf("profile: %d requests and %d failures, want %d and %d", profile.Requests, profile.Failures, iterations, iterations)
	}
	if n := profile.Errors["HTTP 401 Unauthorized"]; n != iterations {
		t.Errorf("profile errors = %v, want %d times HTTP 401 Unauthorized", profile.Errors, iterations)
	}
	checkCounts(t, login)
	checkCounts(t, profile)
}

func TestFailedStepEndsExecution(t *testing.T) {
	const iterations = 50
	tests := []struct {
		name    string
		login   string // extract and expect of the login step
		failure string
	}{
		{
			name:    "status not listed",
			login:   "expect: {status: [201, 204]}",
			failure: "HTTP 200 OK, expected 201 or 204",
		},
		{
			name:    "body without the text",
			login:   "expect: {body_contains: secret}",
			failure: `response body does not contain "secret"`,
		},
		{
			name:    "JSON path finds nothing",
			login:   "extract: {token: {json: $.data.token}}",
			failure: "step login of task flow: extract token: json $.data.token found nothing in the response",
		},
		{
			name:    "header is absent",
			login:   "extract: {token: {header: X-Missing}}",
			failure: "step login of task flow: extract token: header X-Missing found nothing in the response",
		},
		{
			name:    "regex does not match",
			login:   `extract: {token: {regex: 'session=(\w+)'}}`,
			failure: `step login of task flow: extract token: regex session=(\w+) found nothing in the response`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newLoginTarget(t)
			p := parsePlan(t, `
target: %s
users: 3
spawn_rate: 1000
iterations: %d
tasks:
  - name: flow
    steps:
      - name: login
        method: POST
        url: /login
        body: '{"user": "a"}'
        %s
      - name: profile
        url: /profile
`, tg.server.URL, iterations, tt.login)
			e := newEngine(t, p, onlyShare(p))
			runEngine(t, e)
			got := stepStats(e.Collect())

			login := got["flow/login"]
			checkCounts(t, login)
			if login.Requests != iterations || login.Failures != iterations {
				t.Errorf("login: %d requests and %d failures, want %d and %d", login.Requests, login.Failures, iterations, iterations)
			}
			if n := login.Errors[tt.failure]; n != iterations {
				t.Errorf("login errors = %v, want %d times %q", login.Errors, iterations, tt.failure)
			}
			if n := tg.profileOK.Load() + tg.profileRejected.Load(); n != 0 {
				t.Errorf("target received %d profile requests after failed logins, want 0", n)
			}
			if st, ok := got["flow/profile"]; ok {
				t.Errorf("profile has statistics after failed logins: %+v", st)
			}
		})
	}
}

func TestHeaderAndRegexExtraction(t *testing.T) {
	const iterations = 60
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: %d
tasks:
  - name: flow
    steps:
      - name: login
        method: POST
        url: /login
        body: '{"user": "b"}'
        extract:
          tok: {header: x-token}
          id: {regex: 'id=(\d+);'}
          whole: {regex: 'id=\d+'}
      - name: item
        url: /item/${id}
        headers: {X-Auth: "${tok}", X-Whole: "${whole}"}
`, tg.server.URL, iterations)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	if n := tg.itemOK.Load(); n != iterations {
		t.Errorf("target accepted %d item requests, want %d", n, iterations)
	}
	if n := tg.itemRejected.Load(); n != 0 {
		t.Errorf("target rejected %d item requests, want 0", n)
	}
	if st := got["flow/item"]; st.Requests != iterations || st.Failures != 0 {
		t.Errorf("item: %d requests and %d failures, want %d and 0: %v", st.Requests, st.Failures, iterations, st.Errors)
	}
}

func TestRegexWithoutGroupTakesWholeMatch(t *testing.T) {
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 1
iterations: 1
tasks:
  - name: flow
    method: POST
    url: /login
    body: '{"user": "c"}'
    extract: {whole: {regex: 'id=\d+'}}
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	u := e.newUser(0)
	u.run(e.tasks[0])
	i := e.vars.index["whole"]
	if !u.valueSet[i] || string(u.values[i]) != "id=42" {
		t.Errorf("whole = %q (set %v), want %q", u.values[i], u.valueSet[i], "id=42")
	}
}

func TestVariablesInHeadersAndBody(t *testing.T) {
	const iterations = 300
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 5
spawn_rate: 1000
iterations: %d
tasks:
  - name: echo
    method: POST
    url: /echo
    headers: {X-Seq: "${seq}", X-User: "u${user}"}
    body: '{"seq": "${seq}", "user": "u${user}"}'
`, tg.server.URL, iterations)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())

	if n := tg.echoOK.Load(); n != iterations {
		t.Errorf("target accepted %d requests whose header and body agree, want %d", n, iterations)
	}
	if n := tg.echoRejected.Load(); n != 0 {
		t.Errorf("target rejected %d requests, want 0", n)
	}
	if got.Requests != iterations || got.Failures != 0 {
		t.Errorf("echo: %d requests and %d failures, want %d and 0: %v", got.Requests, got.Failures, iterations, got.Errors)
	}
}

func TestVariablePersistsAcrossTasks(t *testing.T) {
	const iterations = 400
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 3
spawn_rate: 1000
iterations: %d
tasks:
  - name: login
    weight: 1
    method: POST
    url: /login
    body: '{"user": "u${user}"}'
    extract: {token: {json: $.token}}
  - name: profile
    weight: 3
    url: /profile
    headers: {Authorization: "Bearer ${token}"}
`, tg.server.URL, iterations)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := byName(e.Collect())

	const missing = "variable ${token} has no value yet; task login extracts it"
	profile := got["profile"]
	checkCounts(t, profile)
	if n := tg.profileRejected.Load(); n != 0 {
		t.Errorf("target rejected %d profile requests, want 0", n)
	}
	// A profile execution before the user's first login sends nothing
	// and fails; every other one uses a token of an earlier task.
	if sent := uint64(tg.profileOK.Load()); sent+profile.Errors[missing] != profile.Requests {
		t.Errorf("profile: %d requests, target accepted %d and %d failed with %q; errors %v",
			profile.Requests, sent, profile.Errors[missing], missing, profile.Errors)
	}
	if tg.profileOK.Load() == 0 {
		t.Errorf("target accepted no profile request: tokens did not carry over from the login task")
	}
	if profile.Failures != profile.Errors[missing] {
		t.Errorf("profile failures = %d, want only the %d without a token: %v", profile.Failures, profile.Errors[missing], profile.Errors)
	}
}

func TestVariableWithoutValueFailsStep(t *testing.T) {
	const iterations = 20
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: %d
tasks:
  - name: login
    weight: 0
    method: POST
    url: /login
    extract: {token: {json: $.token}}
  - name: flow
    steps:
      - name: profile
        url: /profile
        headers: {Authorization: "Bearer ${token}"}
      - name: again
        url: /profile
`, tg.server.URL, iterations)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	const missing = "variable ${token} has no value yet; task login extracts it"
	profile := got["flow/profile"]
	checkCounts(t, profile)
	if profile.Requests != iterations || profile.Errors[missing] != iterations {
		t.Errorf("profile: %d requests, errors %v; want %d, all %q", profile.Requests, profile.Errors, iterations, missing)
	}
	if n := tg.profileOK.Load() + tg.profileRejected.Load(); n != 0 {
		t.Errorf("target received %d requests, want none", n)
	}
	if _, ok := got["flow/again"]; ok {
		t.Errorf("step again ran after a step failed")
	}
}

func TestChecksApplyToFinalResponse(t *testing.T) {
	const iterations = 30
	tg := newLoginTarget(t)
	p := parsePlan(t, `
target: %s
users: 2
spawn_rate: 1000
iterations: %d
http: {max_redirects: 2}
tasks:
  - name: flow
    steps:
      - name: login
        url: /redirect
        expect: {status: [200]}
        extract: {token: {json: $.token}}
      - name: profile
        url: /profile
        headers: {Authorization: "Bearer ${token}"}
`, tg.server.URL, iterations)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	login := got["flow/login"]
	if login.Requests != 2*iterations || login.Failures != 0 {
		t.Errorf("login: %d requests and %d failures, want %d (with redirects) and 0: %v",
			login.Requests, login.Failures, 2*iterations, login.Errors)
	}
	if n := tg.profileOK.Load(); n != iterations {
		t.Errorf("target accepted %d profile requests, want %d", n, iterations)
	}
}

func TestBodyContainsReadsCompressedBody(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "gzip expected", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		fmt.Fprint(zw, `{"greeting": "hello compressed world"}`)
		zw.Close()
	}))
	t.Cleanup(server.Close)
	p := parsePlan(t, `
target: %s
users: 1
iterations: 5
http: {compression: true}
tasks:
  - name: home
    url: /
    expect: {body_contains: compressed world}
    extract: {greeting: {json: $.greeting}}
`, server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := total(e.Collect())
	if got.Requests != 5 || got.Failures != 0 {
		t.Errorf("%d requests and %d failures, want 5 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
}

// writeUsersCSV writes a data file with the users u0 to u(n-1) and
// returns its path.
func writeUsersCSV(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("username,password\n")
	for i := range n {
		fmt.Fprintf(&b, "u%d,secret%d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// csvLogin is a plan that logs in with the username of a data row.
const csvLogin = `
target: %s
users: %d
spawn_rate: 1000
iterations: %d
data: {file: %s, mode: %s}
tasks:
  - name: login
    method: POST
    url: /login
    body: '{"user": "${username}", "password": "${password}"}'
`

func TestDataCycleUsesEveryRowInTurn(t *testing.T) {
	tg := newLoginTarget(t)
	p := parsePlan(t, csvLogin, tg.server.URL, 4, 30, writeUsersCSV(t, 3), "cycle")
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)

	if got := total(e.Collect()); got.Requests != 30 || got.Failures != 0 {
		t.Errorf("%d requests and %d failures, want 30 and 0: %v", got.Requests, got.Failures, got.Errors)
	}
	want := map[string]int{"u0": 10, "u1": 10, "u2": 10}
	if got := tg.loginsByUser(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logins per user = %v, want %v", got, want)
	}
}

func TestDataOnceSharedByEngines(t *testing.T) {
	const rows = 500
	tg := newLoginTarget(t)
	p := parsePlan(t, csvLogin, tg.server.URL, 9, 100000, writeUsersCSV(t, rows), "once")
	if p.Iterations != rows {
		t.Fatalf("plan iterations = %d, want the %d rows", p.Iterations, rows)
	}
	budget := &grants{left: p.Iterations, chunk: 11}
	var wg sync.WaitGroup
	engines := make([]*Engine, 3)
	for i, share := range p.Split(3) {
		e, err := New(p, share, Options{Budget: budget})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		engines[i] = e
		wg.Go(func() {
			if err := e.Run(context.Background()); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	if !waitFor(20*time.Second, func() bool { wg.Wait(); return true }) {
		t.Fatal("engines did not finish")
	}

	logins := tg.loginsByUser()
	if len(logins) != rows {
		t.Errorf("target saw %d distinct users, want %d", len(logins), rows)
	}
	for user, n := range logins {
		if n != 1 {
			t.Errorf("user %s logged in %d times, want once", user, n)
		}
	}
	var collected uint64
	for _, e := range engines {
		collected += total(e.Collect()).Requests
	}
	if collected != rows {
		t.Errorf("engines collected %d requests, want %d", collected, rows)
	}
}

func TestIterationRangesNumberIterations(t *testing.T) {
	var r iterationRanges
	r.add(10, 3) // iterations 10, 11, 12
	r.add(0, 2)  // iterations 0, 1
	r.add(50, 1) // iteration 50
	want := []int64{10, 11, 12, 0, 1, 50}
	for k, w := range want {
		if got := r.number(int64(k)); got != w {
			t.Errorf("number(%d) = %d, want %d", k, got, w)
		}
	}
}

// BenchmarkRequestWithVariables measures a task whose header takes a
// variable extracted by another task, against a fasthttp server so that
// the allocations counted are the client's.
func BenchmarkRequestWithVariables(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen on loopback: %v", err)
	}
	server := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("X-Token", "tok-1")
		ctx.SetBodyString(targetBody)
	}}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	b.Cleanup(func() {
		server.Shutdown()
		<-served
	})

	p := parsePlan(b, `
target: http://%s
users: 1
duration: 1m
tasks:
  - name: login
    method: POST
    url: /login
    body: '{"user": "u${user}"}'
    extract: {token: {header: X-Token}}
  - name: profile
    url: /profile/${seq}
    headers: {Authorization: "Bearer ${token}"}
`, ln.Addr())
	e := newEngine(b, p, onlyShare(p))
	u := e.newUser(0)
	login, profile := e.tasks[0], e.tasks[1]
	u.run(login)
	u.run(profile) // opens the connection and grows the buffers outside the timed loop

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		u.run(profile)
	}
	b.StopTimer()

	got := byName(e.Collect())["profile"]
	if got.Requests != uint64(b.N)+1 || got.Failures != 0 {
		b.Fatalf("profile: %d requests and %d failures, want %d and 0: %v", got.Requests, got.Failures, b.N+1, got.Errors)
	}
}

func TestStepsPacedByMaxRPS(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 4
spawn_rate: 1000
iterations: 100
max_rps: 200
tasks:
  - name: flow
    steps:
      - {name: first, url: /first}
      - {name: second, url: /second}
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	elapsed := runEngine(t, e)

	if n := tg.total.Load(); n != 200 {
		t.Fatalf("target received %d requests, want 200", n)
	}
	// 200 requests at 200 per second take at least 199 intervals of 5 ms
	// when every step waits for its turn.
	if elapsed < 900*time.Millisecond {
		t.Errorf("Run took %v for 200 requests at max_rps 200, want at least 0.9s", elapsed)
	}
}

func TestRunEndSkipsLaterSteps(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 1
duration: 300ms
graceful_stop: 5s
tasks:
  - name: flow
    steps:
      - {name: slow, url: '/slow?delay=800ms'}
      - {name: after, url: /after}
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)
	got := stepStats(e.Collect())

	if n := tg.count("/slow"); n != 1 {
		t.Errorf("target received %d requests for /slow, want 1", n)
	}
	if n := tg.count("/after"); n != 0 {
		t.Errorf("target received %d requests for /after after the run ended, want 0", n)
	}
	if st := got["flow/slow"]; st.Requests != 1 || st.Failures != 0 {
		t.Errorf("slow: %d requests and %d failures, want 1 and 0: %v", st.Requests, st.Failures, st.Errors)
	}
}
