package engine

import (
	"slices"
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
	vars := &variableTable{index: map[string]int{"token": 0, "name": 1}}
	cases := []struct {
		text     string
		literals []string
		refs     []varRef
	}{
		{"http://h/a", nil, nil},
		{"http://h/${seq}", []string{"http://h/", ""}, []varRef{{kind: seqVar}}},
		{"http://h/${user}/x?r=${random}&y", []string{"http://h/", "/x?r=", "&y"},
			[]varRef{{kind: userVar}, {kind: randomVar}}},
		{"Bearer ${token} ${name}", []string{"Bearer ", " ", ""},
			[]varRef{{kind: storedVar, index: 0}, {kind: storedVar, index: 1}}},
	}
	for _, c := range cases {
		tmpl, err := parseURLTemplate(c.text, vars)
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		if c.refs == nil {
			if tmpl != nil {
				t.Errorf("%s: got a template, want none", c.text)
			}
			continue
		}
		if strings.Join(tmpl.literals, "|") != strings.Join(c.literals, "|") {
			t.Errorf("%s: literals %q, want %q", c.text, tmpl.literals, c.literals)
		}
		if !slices.Equal(tmpl.refs, c.refs) {
			t.Errorf("%s: variables %v, want %v", c.text, tmpl.refs, c.refs)
		}
	}
}

func TestParseURLTemplateRejectsUnknownVariable(t *testing.T) {
	vars := &variableTable{index: map[string]int{}}
	if _, err := parseURLTemplate("/x/${nope}", vars); err == nil || !strings.Contains(err.Error(), "${nope}") {
		t.Errorf("parseURLTemplate error = %v, want one naming ${nope}", err)
	}
}
