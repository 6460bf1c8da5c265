package plan

import "testing"

func TestParseGoTask(t *testing.T) {
	yaml := "users: 2\niterations: 10\ntasks:\n" +
		"  - name: login\n    go: login-and-browse\n    weight: 2\n    think_time: 1s\n" +
		"  - name: home\n    url: http://127.0.0.1:8080/\n"
	p, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := p.Tasks[0]
	if got.Go != "login-and-browse" {
		t.Errorf("Go = %q, want login-and-browse", got.Go)
	}
	if got.URL != "" || got.Method != "" {
		t.Errorf("URL = %q and Method = %q, want both empty for a Go task", got.URL, got.Method)
	}
	if got.Weight != 2 {
		t.Errorf("Weight = %d, want 2", got.Weight)
	}
	if got.ThinkTime.Min.Seconds() != 1 {
		t.Errorf("ThinkTime = %+v, want 1s", got.ThinkTime)
	}
	if p.Tasks[1].Go != "" {
		t.Errorf("HTTP task has Go = %q, want empty", p.Tasks[1].Go)
	}
}

func TestParseGoTaskProblems(t *testing.T) {
	const head = "users: 1\nduration: 1m\ntasks:\n  - name: login\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{
			name: "go with url",
			yaml: head + "    go: login\n    url: http://127.0.0.1:8080/\n",
			want: []wantProblem{{6, "tasks[0].url", "url and go are both set"}},
		},
		{
			name: "go with method, headers and body",
			yaml: head + "    method: POST\n    go: login\n    headers: {Accept: text/html}\n    body: x\n",
			want: []wantProblem{
				{5, "tasks[0].method", "method and go are both set"},
				{7, "tasks[0].headers", "headers and go are both set"},
				{8, "tasks[0].body", "body and go are both set"},
			},
		},
		{
			name: "empty go",
			yaml: head + "    go: \"\"\n",
			want: []wantProblem{{5, "tasks[0].go", "go must name a registered function"}},
		},
		{
			name: "go with a space",
			yaml: head + "    go: log in\n",
			want: []wantProblem{{5, "tasks[0].go", `invalid value "log in"`}},
		},
		{
			name: "go as a list",
			yaml: head + "    go: [login]\n",
			want: []wantProblem{{5, "tasks[0].go", "go must be the name of a function registered with task.Register"}},
		},
		{
			name: "misspelled go key",
			yaml: head + "    goo: login\n",
			want: []wantProblem{
				{4, "tasks[0].url", "missing key url"},
				{5, "tasks[0].goo", `unknown key "goo"`},
			},
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
