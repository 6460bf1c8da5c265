package engine

import (
	"strings"
	"sync/atomic"
	"testing"
)

func TestDistinctURLsKeepOneTaskRow(t *testing.T) {
	tg := newTarget(t)
	p := parsePlan(t, `
target: %s
users: 20
spawn_rate: 1000
iterations: 20000
duration: 2m
tasks:
  - name: item
    url: /item/${seq}?u=${user}&r=${random}
`, tg.server.URL)
	e := newEngine(t, p, onlyShare(p))
	runEngine(t, e)

	distinct := 0
	tg.paths.Range(func(key, value any) bool {
		if !strings.HasPrefix(key.(string), "/item/") {
			t.Errorf("unexpected path %q", key)
		}
		if n := value.(*atomic.Int64).Load(); n != 1 {
			t.Errorf("path %q received %d requests, want 1", key, n)
		}
		distinct++
		return true
	})
	if distinct != 20000 {
		t.Errorf("target saw %d distinct paths, want 20000", distinct)
	}
	got := e.Collect()
	if len(got) != 1 || got[0].Name != "item" {
		t.Fatalf("Collect returned %d rows, want one row for task item", len(got))
	}
	if got[0].Requests != 20000 {
		t.Errorf("requests = %d, want 20000", got[0].Requests)
	}
}

func TestParseURLTemplate(t *testing.T) {
	cases := []struct {
		url       string
		literals  []string
		variables []string
	}{
		{"http://h/a", nil, nil},
		{"http://h/${seq}", []string{"http://h/", ""}, []string{"seq"}},
		{"http://h/${user}/x?r=${random}&y", []string{"http://h/", "/x?r=", "&y"}, []string{"user", "random"}},
	}
	for _, c := range cases {
		tmpl := parseURLTemplate(c.url)
		if c.variables == nil {
			if tmpl != nil {
				t.Errorf("%s: got a template, want none", c.url)
			}
			continue
		}
		if strings.Join(tmpl.literals, "|") != strings.Join(c.literals, "|") {
			t.Errorf("%s: literals %q, want %q", c.url, tmpl.literals, c.literals)
		}
		if strings.Join(tmpl.variables, "|") != strings.Join(c.variables, "|") {
			t.Errorf("%s: variables %q, want %q", c.url, tmpl.variables, c.variables)
		}
	}
}
