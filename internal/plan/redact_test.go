package plan

import (
	"strings"
	"testing"
)

func TestProblemsHideSecrets(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		key  string
	}{
		{
			name: "authorization header with a control character",
			yaml: "users: 1\nduration: 1s\ntasks:\n  - name: home\n    url: http://127.0.0.1/\n    headers:\n      Authorization: \"Bearer s3cret\\u0001\"\n",
			key:  "tasks[0].headers.Authorization",
		},
		{
			name: "api key header with a newline",
			yaml: "users: 1\nduration: 1s\ntasks:\n  - name: home\n    url: http://127.0.0.1/\n    headers:\n      X-Api-Key: \"s3cret\\n\"\n",
			key:  "tasks[0].headers.X-Api-Key",
		},
		{
			name: "task url with a password and a bad scheme",
			yaml: "users: 1\nduration: 1s\ntasks:\n  - name: home\n    url: ftp://user:s3cret@127.0.0.1/\n",
			key:  "tasks[0].url",
		},
		{
			name: "target with a password and a query",
			yaml: "target: http://user:s3cret@127.0.0.1/?x=1\nusers: 1\nduration: 1s\ntasks:\n  - name: home\n    url: /\n",
			key:  "target",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse accepted the plan")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("problem shows the secret: %v", err)
			}
			if !strings.Contains(err.Error(), tt.key+":") {
				t.Errorf("problem does not name %s: %v", tt.key, err)
			}
		})
	}
}
