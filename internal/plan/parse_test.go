package plan

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const fullPlan = `name: shop
target: http://127.0.0.1:8080
users: 100
spawn_rate: 10
duration: 5m
iterations: 10000
max_rps: 500
timeout: 5s
workers:
  min: 3
  join_timeout: 2m
tasks:
  - name: home
    weight: 3
    method: get
    url: /
    headers: {Accept: text/html}
    body: ""
  - name: search.v2
    url: http://127.0.0.1:9090/search?q=shoes
`

func TestParseValidPlans(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want *Plan
	}{
		{
			name: "minimal plan gets every default",
			yaml: "users: 5\nduration: 90s\ntasks:\n  - name: home\n    url: https://example.test/\n",
			want: &Plan{
				Name:         DefaultName,
				Users:        5,
				SpawnRate:    5,
				Duration:     90 * time.Second,
				Timeout:      DefaultTimeout,
				GracefulStop: DefaultGracefulStop,
				Workers:      Workers{Min: DefaultMinWorkers, JoinTimeout: DefaultJoinTimeout},
				HTTP:         HTTP{Cookies: true},
				Tasks: []Task{
					{Name: "home", Weight: DefaultWeight, Method: DefaultMethod, URL: "https://example.test/"},
				},
			},
		},
		{
			name: "full plan keeps every value",
			yaml: fullPlan,
			want: &Plan{
				Name:         "shop",
				Target:       "http://127.0.0.1:8080",
				Users:        100,
				SpawnRate:    10,
				Duration:     5 * time.Minute,
				Iterations:   10000,
				MaxRPS:       500,
				Timeout:      5 * time.Second,
				GracefulStop: DefaultGracefulStop,
				Workers:      Workers{Min: 3, JoinTimeout: 2 * time.Minute},
				HTTP:         HTTP{Cookies: true},
				Tasks: []Task{
					{
						Name:    "home",
						Weight:  3,
						Method:  "GET",
						URL:     "http://127.0.0.1:8080/",
						Headers: map[string]string{"Accept": "text/html"},
					},
					{Name: "search.v2", Weight: 1, Method: "GET", URL: "http://127.0.0.1:9090/search?q=shoes"},
				},
			},
		},
		{
			name: "target path prefixes task paths",
			yaml: `target: http://127.0.0.1:8080/api/
users: 1_000
spawn_rate: 0.5
iterations: 501
tasks:
  - name: list-users
    url: /users?page=2
    method: post
    headers:
      X-Retry: 3
      Content-Type: application/json
    body: |
      {"a": 1}
  - name: never
    weight: 0
    url: /never
`,
			want: &Plan{
				Name:         DefaultName,
				Target:       "http://127.0.0.1:8080/api/",
				Users:        1000,
				SpawnRate:    0.5,
				Iterations:   501,
				Timeout:      DefaultTimeout,
				GracefulStop: DefaultGracefulStop,
				Workers:      Workers{Min: DefaultMinWorkers, JoinTimeout: DefaultJoinTimeout},
				HTTP:         HTTP{Cookies: true},
				Tasks: []Task{
					{
						Name:    "list-users",
						Weight:  1,
						Method:  "POST",
						URL:     "http://127.0.0.1:8080/api/users?page=2",
						Headers: map[string]string{"X-Retry": "3", "Content-Type": "application/json"},
						Body:    "{\"a\": 1}\n",
					},
					{Name: "never", Weight: 0, Method: "GET", URL: "http://127.0.0.1:8080/api/never"},
				},
			},
		},
		{
			name: "trailing marker and empty headers",
			yaml: "users: 2\nduration: 1h30m\ntasks:\n  - {name: a, url: 'http://[::1]:80/x', headers: {}}\n---\n",
			want: &Plan{
				Name:         DefaultName,
				Users:        2,
				SpawnRate:    2,
				Duration:     90 * time.Minute,
				Timeout:      DefaultTimeout,
				GracefulStop: DefaultGracefulStop,
				Workers:      Workers{Min: DefaultMinWorkers, JoinTimeout: DefaultJoinTimeout},
				HTTP:         HTTP{Cookies: true},
				Tasks: []Task{
					{Name: "a", Weight: 1, Method: "GET", URL: "http://[::1]:80/x"},
				},
			},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse returned an error:\n%v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse returned\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLoadReadsAndNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, good, fullPlan)
	writeFile(t, bad, "users: 0\nduration: 1m\nweight: 2\ntasks: []\n")

	t.Run("valid file loads", func(t *testing.T) {
		p, err := Load(good)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if p.Name != "shop" {
			t.Errorf("Name = %q, want %q", p.Name, "shop")
		}
	})

	t.Run("missing file is an error naming it", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.yaml")
		_, err := Load(missing)
		if err == nil {
			t.Fatal("Load of a missing file returned no error")
		}
		if !strings.Contains(err.Error(), missing) {
			t.Errorf("error %q does not name the file", err)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %q does not wrap os.ErrNotExist", err)
		}
	})

	t.Run("invalid file lists every problem under its name", func(t *testing.T) {
		_, err := Load(bad)
		if err == nil {
			t.Fatal("Load of an invalid plan returned no error")
		}
		if !strings.Contains(err.Error(), bad) {
			t.Errorf("error %q does not name the file", err)
		}
		var list Errors
		if !errors.As(err, &list) {
			t.Fatalf("errors.As found no Errors in %T", err)
		}
		if len(list) != 3 {
			t.Errorf("got %d problems, want 3:\n%v", len(list), err)
		}
	})
}

func TestProblemStringFormatsPosition(t *testing.T) {
	tests := []struct {
		name    string
		problem Problem
		want    string
	}{
		{
			name:    "line, column and key are all shown",
			problem: Problem{Line: 7, Column: 13, Key: "tasks[1].weight", Message: "invalid value -2: weight must be 0 or more"},
			want:    "line 7, column 13: tasks[1].weight: invalid value -2: weight must be 0 or more",
		},
		{
			name:    "line without column drops the column",
			problem: Problem{Line: 3, Message: "invalid YAML: x"},
			want:    "line 3: invalid YAML: x",
		},
		{
			name:    "problem without position is the message alone",
			problem: Problem{Message: "plan is empty"},
			want:    "plan is empty",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.problem.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsJoinsOneProblemPerLine(t *testing.T) {
	errs := Errors{
		{Line: 1, Column: 1, Key: "users", Message: "a"},
		{Line: 2, Column: 3, Key: "tasks", Message: "b"},
	}
	want := "line 1, column 1: users: a\nline 2, column 3: tasks: b"
	if got := errs.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(fullPlan))
	f.Add([]byte("users: 1\niterations: 1\ntasks: [{name: a, url: 'http://h/'}]\n"))
	f.Add([]byte("a: &a [1]\nb: [*a, *a]\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("users: ten\ntasks: {}\n"))
	f.Add([]byte("rate: 50\nduration: 5s\ntasks: [{name: a, url: 'http://h/'}]\n"))
	f.Add([]byte("stages: [{duration: 1s, rate: 5}, {duration: 1s, users: 2}]\ntasks: [{name: a, url: 'http://h/'}]\n"))
	f.Add([]byte("users: 2\nduration: 1s\ntasks: [{name: a, go: login}]\n"))
	f.Add([]byte("users: 1\niterations: 1\ntasks:\n  - name: a\n    steps:\n      - {name: s, url: 'http://h/${seq}', extract: {t: {json: $.a[0]}}, expect: {status: [200]}}\n      - {name: u, url: 'http://h/', headers: {A: '${t}'}}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var list Errors
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Parse error %T is not a non-empty Errors: %v", err, err)
			}
			return
		}
		if p.Users < 1 || len(p.Tasks) == 0 || !(p.SpawnRate > 0) {
			t.Fatalf("Parse accepted an invalid plan: %+v", p)
		}
		if p.Duration <= 0 && p.Iterations <= 0 {
			t.Fatalf("Parse accepted a plan without duration or iterations: %+v", p)
		}
		if p.Open() && (p.Users < 1 || p.Rate > MaxRate) {
			t.Fatalf("Parse accepted an open model with users %d and rate %v", p.Users, p.Rate)
		}
		for _, task := range p.Tasks {
			urls := []string{task.URL}
			switch {
			case task.Go != "":
				urls = nil
			case task.Steps != nil:
				urls = urls[:0]
				for _, s := range task.Steps {
					urls = append(urls, s.URL)
				}
			}
			for _, u := range urls {
				if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
					t.Fatalf("task %q has a URL that is not absolute: %q", task.Name, u)
				}
			}
		}
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
