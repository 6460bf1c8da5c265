package plan

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// loginFlowPlan is a plan with a task of two steps whose variables come
// from a data file users.csv and from the first step.
const loginFlowPlan = `target: http://127.0.0.1:8080
users: 10
duration: 1m
data:
  file: users.csv
tasks:
  - name: login_flow
    steps:
      - name: login
        method: POST
        url: /login
        headers: {Content-Type: application/json}
        body: '{"user":"${username}","password":"${password}"}'
        extract:
          token: {json: $.token}        # or {header: X-Token} or {regex: 'id=(\d+)'}
        expect: {status: [200], body_contains: token}
      - name: profile
        url: /profile
        headers: {Authorization: "Bearer ${token}"}
`

// writeDir writes files into a new directory of the test and returns it.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	return dir
}

func TestParseLoginFlow(t *testing.T) {
	dir := writeDir(t, map[string]string{"users.csv": "username,password\nalice,a1\nbob,b2\n"})
	got, err := parse([]byte(loginFlowPlan), dir, MaxInputSize)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := &Plan{
		Name:         DefaultName,
		Target:       "http://127.0.0.1:8080",
		Users:        10,
		SpawnRate:    10,
		Duration:     time.Minute,
		Timeout:      DefaultTimeout,
		GracefulStop: DefaultGracefulStop,
		Workers:      Workers{Min: DefaultMinWorkers, JoinTimeout: DefaultJoinTimeout},
		HTTP:         HTTP{Cookies: true},
		Data: &Data{
			File:    "users.csv",
			Mode:    DataCycle,
			Columns: []string{"username", "password"},
			Rows:    [][]string{{"alice", "a1"}, {"bob", "b2"}},
		},
		Tasks: []Task{{
			Name:   "login_flow",
			Weight: 1,
			Steps: []Step{
				{
					Name:    "login",
					Method:  "POST",
					URL:     "http://127.0.0.1:8080/login",
					Headers: map[string]string{"Content-Type": "application/json"},
					Body:    `{"user":"${username}","password":"${password}"}`,
					Extract: []Extract{{Variable: "token", JSON: "$.token"}},
					Expect:  Expect{Status: []int{200}, BodyContains: "token"},
				},
				{
					Name:    "profile",
					Method:  "GET",
					URL:     "http://127.0.0.1:8080/profile",
					Headers: map[string]string{"Authorization": "Bearer ${token}"},
				},
			},
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parse returned\n%+v\nwant\n%+v", got, want)
	}
}

func TestParsePlainTaskWithChecks(t *testing.T) {
	dir := writeDir(t, map[string]string{"payload.bin": "raw ${not_a_variable}"})
	yaml := `target: http://127.0.0.1:8080
users: 1
iterations: 5
tasks:
  - name: login
    method: POST
    url: /login
    body_file: payload.bin
    extract:
      token: {header: X-Token}
      id: {regex: 'id=(\d+)'}
    expect: {status: 201}
  - name: profile
    url: /users/${id}?seq=${seq}
    headers: {Authorization: "Bearer ${token}"}
    expect: {status: [200, 304]}
`
	p, err := parse([]byte(yaml), dir, MaxInputSize)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	login, profile := p.Tasks[0], p.Tasks[1]
	if login.Body != "raw ${not_a_variable}" || login.BodyFile != "payload.bin" {
		t.Errorf("login body = %q from %q, want the file's bytes as they are", login.Body, login.BodyFile)
	}
	wantExtract := []Extract{{Variable: "token", Header: "X-Token"}, {Variable: "id", Regex: `id=(\d+)`}}
	if !reflect.DeepEqual(login.Extract, wantExtract) {
		t.Errorf("login extract = %+v, want %+v", login.Extract, wantExtract)
	}
	if !reflect.DeepEqual(login.Expect, Expect{Status: []int{201}}) {
		t.Errorf("login expect = %+v, want status [201]", login.Expect)
	}
	if !reflect.DeepEqual(profile.Expect.Status, []int{200, 304}) {
		t.Errorf("profile expect status = %v, want [200 304]", profile.Expect.Status)
	}
	if profile.URL != "http://127.0.0.1:8080/users/${id}?seq=${seq}" {
		t.Errorf("profile url = %q, want the variables kept as written", profile.URL)
	}
	if profile.Steps != nil || login.Steps != nil {
		t.Errorf("tasks without steps got steps")
	}
}

func TestParseDataOnceSetsIterations(t *testing.T) {
	dir := writeDir(t, map[string]string{"users.csv": "username\r\na\r\nb\r\nc\r\n"})
	tests := []struct {
		name  string
		extra string
		want  int64
	}{
		{"no iterations and no duration", "", 3},
		{"more iterations than rows", "iterations: 10\n", 3},
		{"fewer iterations than rows", "iterations: 2\n", 2},
		{"a duration as well", "duration: 1m\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "users: 2\n" + tt.extra + "data: {file: users.csv, mode: once}\n" +
				"tasks:\n  - name: a\n    url: http://127.0.0.1:8080/${username}\n"
			p, err := parse([]byte(yaml), dir, MaxInputSize)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.Iterations != tt.want {
				t.Errorf("iterations = %d, want %d", p.Iterations, tt.want)
			}
			if !p.Data.IsOnce() {
				t.Errorf("mode = %q, want once", p.Data.Mode)
			}
		})
	}
}

func TestParseStepsProblems(t *testing.T) {
	head := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n  - name: flow\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "steps and url together",
			yaml: head + "    url: /x\n    extract: {a: {json: $.a}}\n    steps:\n      - {name: a, url: /a}\n",
			want: []wantProblem{
				{6, "tasks[0].url", "url and steps are both set"},
				{7, "tasks[0].extract", "extract and steps are both set"},
			},
		},
		{
			name: "steps and go together",
			yaml: head + "    go: login\n    steps:\n      - {name: a, url: /a}\n",
			want: []wantProblem{{7, "tasks[0].steps", "steps and go are both set"}},
		},
		{
			name: "go with expect",
			yaml: head + "    go: login\n    expect: {status: [200]}\n",
			want: []wantProblem{{7, "tasks[0].expect", "expect and go are both set"}},
		},
		{
			name: "steps not a list",
			yaml: head + "    steps: {name: a}\n",
			want: []wantProblem{{6, "tasks[0].steps", "steps must be a list"}},
		},
		{
			name: "steps empty",
			yaml: head + "    steps: []\n",
			want: []wantProblem{{6, "tasks[0].steps", "steps is empty"}},
		},
		{
			name: "too many steps",
			yaml: head + "    steps:\n" + strings.Repeat("      - {name: s, url: /a}\n", MaxSteps+1),
			want: []wantProblem{{6, "tasks[0].steps", "task has 51 steps, over the limit of 50"}},
		},
		{
			name: "step without name and url",
			yaml: head + "    steps:\n      - method: POST\n",
			want: []wantProblem{
				{7, "tasks[0].steps[0].name", "missing key name"},
				{7, "tasks[0].steps[0].url", "missing key url"},
			},
		},
		{
			name: "duplicate step names",
			yaml: head + "    steps:\n      - {name: a, url: /a}\n      - {name: a, url: /b}\n",
			want: []wantProblem{{8, "tasks[0].steps[1].name", `duplicate step name "a", already used by tasks[0].steps[0] at line 7`}},
		},
		{
			name: "step name with a slash",
			yaml: head + "    steps:\n      - {name: a/b, url: /a}\n",
			want: []wantProblem{{7, "tasks[0].steps[0].name", "name may contain only letters"}},
		},
		{
			name: "unknown step key",
			yaml: head + "    steps:\n      - {name: a, url: /a, think_time: 1s}\n",
			want: []wantProblem{{7, "tasks[0].steps[0].think_time", `unknown key "think_time"`}},
		},
		{
			name: "step not a mapping",
			yaml: head + "    steps:\n      - /a\n",
			want: []wantProblem{{7, "tasks[0].steps[0]", "each step must be a mapping"}},
		},
		{
			name: "step with a bad method",
			yaml: head + "    steps:\n      - {name: a, url: /a, method: 'GE T'}\n",
			want: []wantProblem{{7, "tasks[0].steps[0].method", "method must be an HTTP method"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Errorf("Parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseExtractAndExpectProblems(t *testing.T) {
	head := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n  - name: a\n    url: /a\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "extract not a mapping",
			yaml: head + "    extract: [token]\n",
			want: []wantProblem{{7, "tasks[0].extract", "extract must be a mapping of variable names to extractors"}},
		},
		{
			name: "invalid variable name",
			yaml: head + "    extract: {1token: {json: $.a}}\n",
			want: []wantProblem{{7, "tasks[0].extract", `invalid variable name "1token"`}},
		},
		{
			name: "built-in variable name",
			yaml: head + "    extract: {seq: {json: $.a}}\n",
			want: []wantProblem{{7, "tasks[0].extract.seq", `"seq" is a built-in variable`}},
		},
		{
			name: "two extractors for one variable",
			yaml: head + "    extract:\n      token: {json: $.a, header: X-A}\n",
			want: []wantProblem{{8, "tasks[0].extract.token", "extractor sets 2 of json, header and regex; keep exactly one"}},
		},
		{
			name: "empty extractor",
			yaml: head + "    extract:\n      token: {}\n",
			want: []wantProblem{{8, "tasks[0].extract.token", "an extractor must be a mapping with one of the keys json, header or regex"}},
		},
		{
			name: "unknown extractor",
			yaml: head + "    extract:\n      token: {xpath: //a}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.xpath", `unknown key "xpath"`}},
		},
		{
			name: "JSON path without $",
			yaml: head + "    extract:\n      token: {json: data.token}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.json", `JSON path "data.token" must start with $`}},
		},
		{
			name: "JSON path with a bad index",
			yaml: head + "    extract:\n      token: {json: '$.items[x]'}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.json", "index [x] is not a whole number or a quoted name"}},
		},
		{
			name: "JSON path with an empty name",
			yaml: head + "    extract:\n      token: {json: $.a..b}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.json", "empty name after '.'"}},
		},
		{
			name: "regex that does not compile",
			yaml: head + "    extract:\n      token: {regex: 'id=(\\d+'}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.regex", "invalid regular expression: error parsing regexp: missing closing )"}},
		},
		{
			name: "header name with a space",
			yaml: head + "    extract:\n      token: {header: X Token}\n",
			want: []wantProblem{{8, "tasks[0].extract.token.header", "header must be a response header name"}},
		},
		{
			name: "duplicate extracted variable",
			yaml: head + "    extract:\n      token: {json: $.a}\n      token: {json: $.b}\n",
			want: []wantProblem{{9, "tasks[0].extract.token", `duplicate variable "token", already extracted at line 8`}},
		},
		{
			name: "expect not a mapping",
			yaml: head + "    expect: 200\n",
			want: []wantProblem{{7, "tasks[0].expect", "expect must be a mapping with the keys status and body_contains"}},
		},
		{
			name: "status out of range",
			yaml: head + "    expect: {status: [200, 600, 99]}\n",
			want: []wantProblem{
				{7, "tasks[0].expect.status", "invalid value 600: expect.status must be at most 599"},
				{7, "tasks[0].expect.status", "invalid value 99: expect.status must be 100 or more"},
			},
		},
		{
			name: "status written as a word",
			yaml: head + "    expect: {status: ok}\n",
			want: []wantProblem{{7, "tasks[0].expect.status", `invalid value "ok": expect.status must be a whole number such as 200`}},
		},
		{
			name: "duplicate status",
			yaml: head + "    expect: {status: [200, 200]}\n",
			want: []wantProblem{{7, "tasks[0].expect.status", "duplicate status 200"}},
		},
		{
			name: "empty status list",
			yaml: head + "    expect: {status: []}\n",
			want: []wantProblem{{7, "tasks[0].expect.status", "status is empty"}},
		},
		{
			name: "empty body_contains",
			yaml: head + "    expect: {body_contains: ''}\n",
			want: []wantProblem{{7, "tasks[0].expect.body_contains", "body_contains must not be empty"}},
		},
		{
			name: "misspelled expect key",
			yaml: head + "    expect: {statu: [200]}\n",
			want: []wantProblem{{7, "tasks[0].expect.statu", `did you mean "status"?`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Errorf("Parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseVariableProblems(t *testing.T) {
	head := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n"
	login := "  - name: login\n    url: /login\n    extract: {token: {json: $.token}}\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "unknown variable in a header lists the known ones",
			yaml: head + login + "  - name: b\n    url: /b\n    headers: {Authorization: 'Bearer ${tokn}'}\n",
			want: []wantProblem{{10, "tasks[1].headers.Authorization",
				"unknown variable ${tokn}; the known variables are seq, user, random, token"}},
		},
		{
			name: "unknown variable in a body",
			yaml: head + "  - name: b\n    url: /b\n    body: '{\"id\": ${id}}'\n",
			want: []wantProblem{{7, "tasks[0].body", "unknown variable ${id}; the known variables are seq, user, random."}},
		},
		{
			name: "unknown variable in a step url",
			yaml: head + "  - name: b\n    steps:\n      - {name: s, url: '/x/${who}'}\n",
			want: []wantProblem{{7, "tasks[0].steps[0].url", "unknown variable ${who}"}},
		},
		{
			name: "unclosed variable in a header",
			yaml: head + "  - name: b\n    url: /b\n    headers: {X-A: '${seq'}\n",
			want: []wantProblem{{7, "tasks[0].headers.X-A", `variable "${seq" has no closing "}"`}},
		},
		{
			name: "invalid variable name in a body",
			yaml: head + "  - name: b\n    url: /b\n    body: 'a ${b c}'\n",
			want: []wantProblem{{7, "tasks[0].body", `invalid variable name "b c"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if p != nil {
				t.Errorf("Parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseVariablesOfLaterTasks(t *testing.T) {
	// A task may use a variable that a later task extracts.
	yaml := `target: http://127.0.0.1:8080
users: 1
duration: 1m
tasks:
  - name: profile
    url: /profile
    headers: {Authorization: "Bearer ${token}"}
  - name: login
    url: /login
    extract: {token: {json: $.token}}
`
	if _, err := Parse([]byte(yaml)); err != nil {
		t.Errorf("Parse: %v", err)
	}
}

func TestParseDataProblems(t *testing.T) {
	many := make([]string, MaxDataColumns+1)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	dir := writeDir(t, map[string]string{
		"empty.csv":    "",
		"header.csv":   "username,password\n",
		"ragged.csv":   "username,password\nalice,a1\nbob\ncarol,c3,extra\n",
		"numbers.csv":  "1,2\n3,4\n",
		"dup.csv":      "name,name\na,b\n",
		"builtin.csv":  "user,password\na,b\n",
		"many.csv":     strings.Join(many, ",") + "\n" + strings.Repeat("x,", MaxDataColumns) + "x\n",
		"quote.csv":    "name\n\"unterminated\n",
		"token.csv":    "token\nabc\n",
		"good.csv":     "username\nalice\n",
		"username.csv": "username\nalice\n",
	})
	head := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\n"
	tasks := "tasks:\n  - name: a\n    url: /a\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{"data not a mapping", head + "data: users.csv\n" + tasks,
			[]wantProblem{{4, "data", "data must be a mapping with the keys file and mode"}}},
		{"missing file key", head + "data: {mode: once}\n" + tasks,
			[]wantProblem{{4, "data.file", "missing key file"}}},
		{"file not found", head + "data: {file: missing.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", "file not found"}}},
		{"invalid mode", head + "data: {file: good.csv, mode: random}\n" + tasks,
			[]wantProblem{{4, "data.mode", `invalid value "random": mode must be cycle or once`}}},
		{"unknown key", head + "data: {file: good.csv, modes: once}\n" + tasks,
			[]wantProblem{{4, "data.modes", `did you mean "mode"?`}}},
		{"empty file", head + "data: {file: empty.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", "file empty.csv is empty; its first row must name the columns"}}},
		{"header without rows", head + "data: {file: header.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", "file header.csv has a header but no rows"}}},
		{"ragged rows", head + "data: {file: ragged.csv}\n" + tasks,
			[]wantProblem{
				{4, "data.file", "file ragged.csv, line 3 (row 2): row has 1 fields, but the header names 2 columns"},
				{4, "data.file", "file ragged.csv, line 4 (row 3): row has 3 fields, but the header names 2 columns"},
			}},
		{"missing header", head + "data: {file: numbers.csv}\n" + tasks,
			[]wantProblem{
				{4, "data.file", `file numbers.csv, line 1: column 1 is named "1", which is not a variable name; the first row must name the columns`},
				{4, "data.file", `column 2 is named "2"`},
			}},
		{"duplicate column", head + "data: {file: dup.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", `column "name" appears twice`}}},
		{"built-in column", head + "data: {file: builtin.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", `column "user" has the name of a built-in variable`}}},
		{"too many columns", head + "data: {file: many.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", "file many.csv has 101 columns, over the limit of 100"}}},
		{"invalid CSV", head + "data: {file: quote.csv}\n" + tasks,
			[]wantProblem{{4, "data.file", "file quote.csv is not valid CSV"}}},
		{"column also extracted", head + "data: {file: token.csv}\n" + tasks + "    extract: {token: {json: $.t}}\n",
			[]wantProblem{{4, "data.file", `column "token" is also extracted by task a`}}},
		{"cycle without duration or iterations", "target: http://127.0.0.1:8080\nusers: 1\ndata: {file: good.csv}\n" + tasks,
			[]wantProblem{{1, "", "missing duration and iterations"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parse([]byte(tt.yaml), dir, MaxInputSize)
			if p != nil {
				t.Errorf("parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestLoadReadsDataRelativeToPlan(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"users.csv": "\ufeffusername,password\nalice,\"a,1\"\n",
		"plan.yaml": "users: 1\niterations: 1\ndata: {file: users.csv}\n" +
			"tasks:\n  - {name: a, url: 'http://127.0.0.1:8080/${username}', body: '${password}'}\n",
	})
	p, err := Load(filepath.Join(dir, "plan.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := p.Data.Columns; !reflect.DeepEqual(got, []string{"username", "password"}) {
		t.Errorf("columns = %q, want username and password without the byte order mark", got)
	}
	if got := p.Data.Rows; !reflect.DeepEqual(got, [][]string{{"alice", "a,1"}}) {
		t.Errorf("rows = %q", got)
	}
}

func TestGJSONPath(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"$", "@this"},
		{"$.token", "token"},
		{"$.data.items[0].id", "data.items.0.id"},
		{"$[2]", "2"},
		{"$['a.b'].c", `a\.b.c`},
		{`$["x y"]`, "x y"},
		{"$.a*b", `a\*b`},
	}
	for _, tt := range tests {
		got, err := GJSONPath(tt.path)
		if err != nil {
			t.Errorf("GJSONPath(%q): %v", tt.path, err)
			continue
		}
		if got != tt.want {
			t.Errorf("GJSONPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, bad := range []string{"", "token", "$.", "$..a", "$[", "$[a]", "$['a]", "$[]", "$a", "$.a]"} {
		if got, err := GJSONPath(bad); err == nil {
			t.Errorf("GJSONPath(%q) = %q, want an error", bad, got)
		}
	}
}

func TestStepsPlanRoundTrip(t *testing.T) {
	dir := writeDir(t, map[string]string{"users.csv": "username,password\nalice,a1\n"})
	p, err := parse([]byte(loginFlowPlan), dir, MaxInputSize)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	t.Run("json", func(t *testing.T) {
		roundTrip(t, json.Marshal, json.Unmarshal, p, &Plan{})
	})
	t.Run("msgpack", func(t *testing.T) {
		roundTrip(t, msgpack.Marshal, msgpack.Unmarshal, p, &Plan{})
	})
}

func TestExpectedStatuses(t *testing.T) {
	tests := []struct {
		statuses []int
		want     string
	}{
		{[]int{200}, "200"},
		{[]int{200, 201}, "200 or 201"},
		{[]int{200, 201, 204}, "200, 201 or 204"},
	}
	for _, tt := range tests {
		if got := ExpectedStatuses(tt.statuses); got != tt.want {
			t.Errorf("ExpectedStatuses(%v) = %q, want %q", tt.statuses, got, tt.want)
		}
	}
}

func TestParseInvalidDataHidesUnknownVariables(t *testing.T) {
	yaml := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ndata: {file: missing.csv}\n" +
		"tasks:\n  - name: a\n    url: /a/${username}\n"
	_, err := parse([]byte(yaml), t.TempDir(), MaxInputSize)
	checkProblems(t, err, []wantProblem{{4, "data.file", "file not found"}})
}

func TestParseInvalidExtractorKeepsVariableKnown(t *testing.T) {
	yaml := "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n" +
		"  - name: a\n    url: /a\n    extract: {token: {json: token}}\n" +
		"  - name: b\n    url: /b/${token}\n"
	_, err := Parse([]byte(yaml))
	checkProblems(t, err, []wantProblem{{7, "tasks[0].extract.token.json", "must start with $"}})
}
