package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseHTTPProblems(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	head := "users: 1\nduration: 1m\n"
	tests := []struct {
		name string
		yaml string
		want []wantProblem
	}{
		{"http not a mapping", head + "http: 5\n" + homeTask,
			[]wantProblem{{3, "http", "http must be a mapping"}}},
		{"max_redirects negative", head + "http:\n  max_redirects: -1\n" + homeTask,
			[]wantProblem{{4, "http.max_redirects", "max_redirects must be 0 or more"}}},
		{"max_connections zero", head + "http:\n  max_connections: 0\n" + homeTask,
			[]wantProblem{{4, "http.max_connections", "max_connections must be greater than 0"}}},
		{"compression a word", head + "http:\n  compression: yes please\n" + homeTask,
			[]wantProblem{{4, "http.compression", "compression must be true or false"}}},
		{"cookies a number", head + "http:\n  cookies: 1\n" + homeTask,
			[]wantProblem{{4, "http.cookies", "cookies must be true or false"}}},
		{"http2 a string", head + "http:\n  http2: \"yes\"\n" + homeTask,
			[]wantProblem{{4, "http.http2", "http2 must be true or false"}}},
		{"http2 misspelt", head + "http:\n  http_2: true\n" + homeTask,
			[]wantProblem{{4, "http.http_2", `did you mean "http2"`}}},
		{"insecure_skip_verify a list", head + "http:\n  insecure_skip_verify: [a]\n" + homeTask,
			[]wantProblem{{4, "http.insecure_skip_verify", "insecure_skip_verify must be true or false"}}},
		{"host with a scheme", head + "http:\n  host: http://shop\n" + homeTask,
			[]wantProblem{{4, "http.host", "without a scheme"}}},
		{"unknown key", head + "http:\n  max_redirect: 1\n" + homeTask,
			[]wantProblem{{4, "http.max_redirect", `did you mean "max_redirects"`}}},
		{"ca_file missing", head + "http:\n  ca_file: " + missing + "\n" + homeTask,
			[]wantProblem{{4, "http.ca_file", "no such file or directory"}}},
		{"ca_file not PEM", head + "http:\n  ca_file: " + notPEM + "\n" + homeTask,
			[]wantProblem{{4, "http.ca_file", "contains no PEM certificate"}}},
		{"cert_file without key_file", head + "http:\n  cert_file: " + notPEM + "\n" + homeTask,
			[]wantProblem{{4, "http.key_file", "missing key key_file"}}},
		{"cert and key invalid", head + "http:\n  cert_file: " + notPEM + "\n  key_file: " + notPEM + "\n" + homeTask,
			[]wantProblem{{4, "http.cert_file", "invalid client certificate and key"}}},
		{"body_file missing", head + homeTask + "    body_file: " + missing + "\n",
			[]wantProblem{{6, "tasks[0].body_file", "file not found"}}},
		{"body and body_file together", head + homeTask + "    body: x\n    body_file: " + notPEM + "\n",
			[]wantProblem{{7, "tasks[0].body_file", "body and body_file are both set"}}},
		{"body_file a mapping", head + homeTask + "    body_file: {a: b}\n",
			[]wantProblem{{6, "tasks[0].body_file", "body_file must be a file path"}}},
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

func TestLoadReadsFilesBesideThePlan(t *testing.T) {
	dir := t.TempDir()
	const payload = `{"a": 1}`
	if err := os.WriteFile(filepath.Join(dir, "payload.json"), []byte(payload), 0o600); err != nil {
		t.Fatal(err)
	}
	text := "users: 1\nduration: 1m\nhttp:\n  max_redirects: 3\n  max_connections: 7\n  compression: true\n" +
		"  host: shop.example.test\n  insecure_skip_verify: true\n  cookies: false\n  http2: true\n" +
		homeTask + "    method: POST\n    body_file: payload.json\n"
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	p, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := HTTP{MaxRedirects: 3, MaxConnections: 7, Compression: true, Host: "shop.example.test", InsecureSkipVerify: true, HTTP2: true}
	if p.HTTP != want {
		t.Errorf("HTTP = %+v, want %+v", p.HTTP, want)
	}
	if p.Tasks[0].Body != payload {
		t.Errorf("task body = %q, want the file's content %q", p.Tasks[0].Body, payload)
	}

	// Parse resolves the same relative path against the current
	// directory, where the file is not.
	_, err = Parse([]byte(text))
	if err == nil || !strings.Contains(err.Error(), "tasks[0].body_file: file not found") {
		t.Errorf("Parse error = %v, want body_file not found", err)
	}
}
