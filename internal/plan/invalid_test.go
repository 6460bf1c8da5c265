package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// homeTask is a valid tasks list that starts on the line after the keys
// placed before it.
const homeTask = "tasks:\n  - name: home\n    url: http://127.0.0.1:8080/\n"

// wantProblem is one expected problem: its line, its key path and a part
// of its message.
type wantProblem struct {
	line int
	key  string
	text string
}

func TestParseReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		limit int // input size limit; 0 means MaxInputSize
		want  []wantProblem
	}{
		{
			name: "users written as a word",
			yaml: "users: ten\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", `invalid value "ten": users must be a whole number such as 100`}},
		},
		{
			name: "negative users",
			yaml: "users: -5\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", "invalid value -5: users must be greater than 0"}},
		},
		{
			name: "users too large for an integer",
			yaml: "users: 99999999999999999999\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", "users must be at most 10000000"}},
		},
		{
			name: "users without a value",
			yaml: "users:\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", "missing value: users must be a whole number"}},
		},
		{
			name: "misspelled top-level key",
			yaml: "user: 10\nduration: 1m\n" + homeTask,
			want: []wantProblem{
				{1, "user", `unknown key "user"; did you mean "users"?`},
				{1, "users", "missing key users"},
			},
		},
		{
			name: "misspelled nested key",
			yaml: "users: 1\nduration: 1m\nworkers:\n  mni: 2\n" + homeTask,
			want: []wantProblem{{4, "workers.mni", `unknown key "mni"; did you mean "min"?`}},
		},
		{
			name: "unrelated unknown key",
			yaml: "users: 1\nduration: 1m\ncolour: red\n" + homeTask,
			want: []wantProblem{{3, "colour", `unknown key "colour"; remove it or use one of: name, target, users`}},
		},
		{
			name: "duplicate top-level key",
			yaml: "users: 1\nusers: 2\nduration: 1m\n" + homeTask,
			want: []wantProblem{{2, "users", `duplicate key "users", already set at line 1`}},
		},
		{
			name: "duration that Go cannot parse",
			yaml: "users: 1\nduration: 5 minutes\n" + homeTask,
			want: []wantProblem{{2, "duration", `invalid value "5 minutes": duration must be a Go duration such as 30s, 5m or 1h30m`}},
		},
		{
			name: "duration without a unit",
			yaml: "users: 1\nduration: 300\n" + homeTask,
			want: []wantProblem{{2, "duration", "invalid value 300: duration needs a unit; use a Go duration such as 300s or 300m"}},
		},
		{
			name: "negative timeout",
			yaml: "users: 1\nduration: 1m\ntimeout: -1s\n" + homeTask,
			want: []wantProblem{{3, "timeout", `invalid value "-1s": timeout must be greater than 0`}},
		},
		{
			name: "zero join timeout",
			yaml: "users: 1\nduration: 1m\nworkers:\n  join_timeout: 0s\n" + homeTask,
			want: []wantProblem{{4, "workers.join_timeout", "workers.join_timeout must be greater than 0"}},
		},
		{
			name: "workers given as a number",
			yaml: "users: 1\nduration: 1m\nworkers: 3\n" + homeTask,
			want: []wantProblem{{3, "workers", "invalid value 3: workers must be a mapping"}},
		},
		{
			name: "zero iterations",
			yaml: "users: 1\niterations: 0\n" + homeTask,
			want: []wantProblem{{2, "iterations", "invalid value 0: iterations must be greater than 0"}},
		},
		{
			name: "spawn rate that is not a number",
			yaml: "users: 1\nduration: 1m\nspawn_rate: .nan\n" + homeTask,
			want: []wantProblem{{3, "spawn_rate", "spawn_rate must be a finite number"}},
		},
		{
			name: "max rps written as a word",
			yaml: "users: 1\nduration: 1m\nmax_rps: fast\n" + homeTask,
			want: []wantProblem{{3, "max_rps", `invalid value "fast": max_rps must be a number such as 500 or 2.5`}},
		},
		{
			name: "empty run name",
			yaml: "name: ''\nusers: 1\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "name", "name must not be empty"}},
		},
		{
			name: "target with an unsupported scheme",
			yaml: "target: ftp://127.0.0.1/\nusers: 1\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "target", `scheme "ftp" is not supported; use http or https`}},
		},
		{
			name: "target with a query",
			yaml: "target: http://127.0.0.1:8080/?a=1\nusers: 1\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "target", "target must not have a query or fragment"}},
		},
		{
			name: "relative task url without a target",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - name: home\n    url: /home\n",
			want: []wantProblem{{5, "tasks[0].url", `invalid value "/home": a path needs target`}},
		},
		{
			name: "task url without slash or scheme",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - name: home\n    url: home\n",
			want: []wantProblem{{5, "tasks[0].url", `url must start with "/" or be an absolute http or https URL`}},
		},
		{
			name: "task url without a host",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - name: home\n    url: http:///home\n",
			want: []wantProblem{{5, "tasks[0].url", "url has no host"}},
		},
		{
			name: "negative weight",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "  - name: cart\n    weight: -2\n    url: http://127.0.0.1:8080/cart\n",
			want: []wantProblem{{7, "tasks[1].weight", "invalid value -2: weight must be 0 or more"}},
		},
		{
			name: "weight written as a word",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - name: home\n    weight: heavy\n    url: http://127.0.0.1:8080/\n",
			want: []wantProblem{{5, "tasks[0].weight", `invalid value "heavy": weight must be a whole number such as 3`}},
		},
		{
			name: "every weight zero",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - {name: a, weight: 0, url: 'http://127.0.0.1/'}\n  - {name: b, weight: 0, url: 'http://127.0.0.1/'}\n",
			want: []wantProblem{{3, "tasks", "every task has weight 0"}},
		},
		{
			name: "duplicate task names",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "  - name: home\n    url: http://127.0.0.1:8080/x\n",
			want: []wantProblem{{6, "tasks[1].name", `duplicate task name "home", already used by tasks[0] at line 4`}},
		},
		{
			name: "task name with a space",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - name: my task\n    url: http://127.0.0.1:8080/\n",
			want: []wantProblem{{4, "tasks[0].name", "name may contain only letters"}},
		},
		{
			name: "task without name and url",
			yaml: "users: 1\nduration: 1m\ntasks:\n  - weight: 1\n",
			want: []wantProblem{
				{4, "tasks[0].name", "missing key name"},
				{4, "tasks[0].url", "missing key url"},
			},
		},
		{
			name: "method with a space",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    method: GE T\n",
			want: []wantProblem{{6, "tasks[0].method", `invalid value "GE T": method must be an HTTP method such as GET or POST`}},
		},
		{
			name: "unknown URL variable",
			yaml: "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n  - name: a\n    url: /x/${id}\n",
			want: []wantProblem{{6, "tasks[0].url", "unknown variable ${id}"}},
		},
		{
			name: "unclosed URL variable",
			yaml: "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n  - name: a\n    url: /x/${seq\n",
			want: []wantProblem{{6, "tasks[0].url", "has no closing"}},
		},
		{
			name: "URL with a space",
			yaml: "target: http://127.0.0.1:8080\nusers: 1\nduration: 1m\ntasks:\n  - name: a\n    url: /a b?q=x y\n",
			want: []wantProblem{{6, "tasks[0].url", "percent-encode it, a space as %20"}},
		},
		{
			name: "method CONNECT",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    method: connect\n",
			want: []wantProblem{{6, "tasks[0].method", "CONNECT opens a tunnel"}},
		},
		{
			name: "users over the limit",
			yaml: "users: 99999999999\nduration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", "users must be at most 10000000"}},
		},
		{
			name: "header name with a space",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    headers: {Bad Name: x}\n",
			want: []wantProblem{{6, "tasks[0].headers", `invalid header name "Bad Name"`}},
		},
		{
			name: "header value with a newline",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    headers: {X-A: \"a\\nb\"}\n",
			want: []wantProblem{{6, "tasks[0].headers.X-A", "header value must not contain control characters"}},
		},
		{
			name: "header repeated in another case",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    headers: {Accept: a, accept: b}\n",
			want: []wantProblem{{6, "tasks[0].headers.accept", `duplicate header "accept", already set at line 6`}},
		},
		{
			name: "too many headers",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    headers: " + flowHeaders(MaxHeaders+1) + "\n",
			want: []wantProblem{{6, "tasks[0].headers", "task has 101 headers, over the limit of 100"}},
		},
		{
			name:  "body over the size limit",
			yaml:  "users: 1\nduration: 1m\n" + homeTask + "    body: " + strings.Repeat("a", MaxBodySize+1) + "\n",
			limit: 4 << 20,
			want:  []wantProblem{{6, "tasks[0].body", "body is 1048577 bytes, over the limit of 1048576 bytes"}},
		},
		{
			name: "too many tasks",
			yaml: "users: 1\nduration: 1m\ntasks:\n" + blockTasks(MaxTasks+1),
			want: []wantProblem{{3, "tasks", "plan has 1001 tasks, over the limit of 1000"}},
		},
		{
			name: "tasks given as a mapping",
			yaml: "users: 1\nduration: 1m\ntasks: {home: /}\n",
			want: []wantProblem{{3, "tasks", "invalid value (a mapping): tasks must be a list of tasks"}},
		},
		{
			name: "empty tasks list",
			yaml: "users: 1\nduration: 1m\ntasks: []\n",
			want: []wantProblem{{3, "tasks", "tasks is empty"}},
		},
		{
			name: "alias to an anchored value",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "    headers: &h {A: b}\n  - name: cart\n    url: http://127.0.0.1:8080/cart\n    headers: *h\n",
			want: []wantProblem{{9, "", "alias *h is not supported"}},
		},
		{
			name: "empty file",
			yaml: "",
			want: []wantProblem{{0, "", "plan is empty"}},
		},
		{
			name: "file with only comments",
			yaml: "# nothing here\n",
			want: []wantProblem{{0, "", "plan is empty"}},
		},
		{
			name: "document that is a list",
			yaml: "- users: 1\n",
			want: []wantProblem{{1, "", "plan must be a YAML mapping with keys such as users and tasks, but the document is a list"}},
		},
		{
			name: "document that is a string",
			yaml: "hello\n",
			want: []wantProblem{{1, "", `but the document is the value "hello"`}},
		},
		{
			name: "second document",
			yaml: "users: 1\nduration: 1m\n" + homeTask + "---\nusers: 2\n",
			want: []wantProblem{{6, "", "found a second YAML document"}},
		},
		{
			name: "broken YAML syntax",
			yaml: "users: 1\nduration: 1m\ntasks\nname: x\n",
			want: []wantProblem{{3, "", "invalid YAML: could not find expected ':'"}},
		},
		{
			name: "input over the size limit",
			yaml: strings.Repeat("#", MaxInputSize+1),
			want: []wantProblem{{0, "", "plan is over the limit of 1048576 bytes"}},
		},
		{
			name: "missing users",
			yaml: "duration: 1m\n" + homeTask,
			want: []wantProblem{{1, "users", "missing key users; set the number of concurrent virtual users"}},
		},
		{
			name: "missing duration and iterations",
			yaml: "users: 1\n" + homeTask,
			want: []wantProblem{{1, "", "missing duration and iterations; set duration (for example duration: 5m), iterations"}},
		},
		{
			name: "missing tasks",
			yaml: "users: 1\nduration: 1m\n",
			want: []wantProblem{{1, "tasks", "missing key tasks"}},
		},
		{
			name: "several problems in line order",
			yaml: "users: 0\nspawn_rate: -1\nduration: 1m\ntimeout: soon\nworkers:\n  min: 0\ntasks:\n  - name: home\n    url: /\n",
			want: []wantProblem{
				{1, "users", "users must be greater than 0"},
				{2, "spawn_rate", "spawn_rate must be greater than 0"},
				{4, "timeout", "timeout must be a Go duration"},
				{6, "workers.min", "workers.min must be greater than 0"},
				{9, "tasks[0].url", "a path needs target"},
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = MaxInputSize
			}
			p, err := parse([]byte(tt.yaml), ".", limit)
			if p != nil {
				t.Errorf("parse returned a plan with the error: %+v", p)
			}
			checkProblems(t, err, tt.want)
		})
	}
}

func TestParseErrorMatchesDocumentedFormat(t *testing.T) {
	yaml := "users: 1\nduration: 1m\n" + homeTask +
		"  - name: cart\n    weight: -2\n    url: http://127.0.0.1:8080/cart\n"
	_, err := Parse([]byte(yaml))
	want := "line 7, column 13: tasks[1].weight: invalid value -2: weight must be 0 or more"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v, want %q", err, want)
	}
}

func TestParseRejectsAliasBomb(t *testing.T) {
	// Each level repeats the previous one ten times, so expanding the
	// last level would produce 10^9 strings.
	var b strings.Builder
	b.WriteString("users: 1\nduration: 1m\n" + homeTask)
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", ")
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, refs)
	}

	_, err := Parse([]byte(b.String()))
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("Parse error %v is not Errors", err)
	}

	aliases := 0
	for _, p := range list {
		if strings.HasPrefix(p.Message, "alias *") {
			aliases++
		}
	}
	if aliases != 20 {
		t.Errorf("got %d alias problems, want 20 listed one by one", aliases)
	}
	if first := firstWith(list, "alias *l0"); first == nil || first.Line != 7 {
		t.Errorf("first alias problem = %+v, want one at line 7", first)
	}
	if firstWith(list, "more aliases follow") == nil {
		t.Errorf("no problem says that more aliases follow:\n%v", err)
	}
}

// checkProblems asserts that err is an Errors with exactly the wanted
// problems, in order.
func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	var list Errors
	if !errors.As(err, &list) {
		t.Fatalf("error %v (%T) is not Errors", err, err)
	}
	if len(list) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		got := list[i]
		if got.Line != w.line {
			t.Errorf("problem %d line = %d, want %d: %v", i, got.Line, w.line, got)
		}
		if got.Key != w.key {
			t.Errorf("problem %d key = %q, want %q: %v", i, got.Key, w.key, got)
		}
		if !strings.Contains(got.Message, w.text) {
			t.Errorf("problem %d message = %q, want it to contain %q", i, got.Message, w.text)
		}
		// The YAML library reports syntax errors by line only.
		if w.line > 0 && got.Column < 1 && !strings.HasPrefix(got.Message, "invalid YAML") {
			t.Errorf("problem %d has line %d but no column: %v", i, got.Line, got)
		}
	}
}

// firstWith returns the first problem whose message contains text.
func firstWith(list Errors, text string) *Problem {
	for i := range list {
		if strings.Contains(list[i].Message, text) {
			return &list[i]
		}
	}
	return nil
}

// flowHeaders returns a flow mapping of n distinct headers.
func flowHeaders(n int) string {
	pairs := make([]string, n)
	for i := range pairs {
		pairs[i] = fmt.Sprintf("H%d: v", i)
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

// blockTasks returns n valid tasks as block sequence items.
func blockTasks(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {name: t%d, url: 'http://127.0.0.1:8080/'}\n", i)
	}
	return b.String()
}
