package allowlist

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRejectsBadPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
	}{
		{"", "empty pattern"},
		{"10.0.0.0/33", "not a network"},
		{"exa mple.com", "use a host name"},
		{"*", "use a host name"},
		{"*.", "use a host name"},
		{"a..b", "use a host name"},
		{"http://example.com", "use a host name"},
	}
	for _, tt := range tests {
		_, err := Parse([]string{tt.pattern})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tt.pattern, err, tt.want)
		}
	}
}

func TestParseWithoutPatternsAllowsAll(t *testing.T) {
	l, err := Parse(nil)
	if err != nil || l != nil {
		t.Fatalf("Parse(nil) = %v, %v; want nil, nil", l, err)
	}
	if err := l.Check(context.Background(), "203.0.113.9"); err != nil {
		t.Errorf("nil list rejected a host: %v", err)
	}
}

func TestCheck(t *testing.T) {
	// The names of the list have no networks beside them, so no name is
	// resolved, and the addresses need no resolving either.
	names, err := Parse([]string{"api.example.test, *.svc.test"})
	if err != nil {
		t.Fatal(err)
	}
	nets, err := Parse([]string{"10.0.0.0/8", "192.0.2.7", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		list    *List
		host    string
		allowed bool
	}{
		{names, "api.example.test", true},
		{names, "API.Example.Test.", true},
		{names, "www.example.test", false},
		{names, "a.svc.test", true},
		{names, "a.b.svc.test", true},
		{names, "svc.test", false},
		{names, "evilsvc.test", false},
		{names, "10.1.2.3", false},
		{nets, "10.1.2.3", true},
		{nets, "11.1.2.3", false},
		{nets, "192.0.2.7", true},
		{nets, "192.0.2.8", false},
		{nets, "::1", true},
		{nets, "[::1]", true},
		{nets, "::ffff:10.0.0.1", true},
		{nets, "127.0.0.1", false},
	}
	for _, tt := range tests {
		err := tt.list.Check(context.Background(), tt.host)
		if tt.allowed && err != nil {
			t.Errorf("Check(%q) = %v, want allowed", tt.host, err)
		}
		if !tt.allowed && !errors.Is(err, ErrNotAllowed) {
			t.Errorf("Check(%q) = %v, want ErrNotAllowed", tt.host, err)
		}
	}
}

func TestCheckResolvesNamesAgainstNetworks(t *testing.T) {
	ctx := context.Background()
	loopback, err := Parse([]string{"127.0.0.0/8,::1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := loopback.Check(ctx, "localhost"); err != nil {
		t.Errorf("localhost with loopback networks allowed: %v", err)
	}
	private, err := Parse([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	err = private.Check(ctx, "localhost")
	if !errors.Is(err, ErrNotAllowed) {
		t.Errorf("localhost with 10.0.0.0/8 = %v, want ErrNotAllowed", err)
	}
}

func TestAllowsAddr(t *testing.T) {
	l, err := Parse([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if !l.AllowsAddr(netip.MustParseAddr("10.9.9.9")) {
		t.Error("10.9.9.9 not in 10.0.0.0/8")
	}
	if l.AllowsAddr(netip.MustParseAddr("127.0.0.1")) {
		t.Error("127.0.0.1 in 10.0.0.0/8")
	}
	if got := l.String(); got != "10.0.0.0/8" {
		t.Errorf("String() = %q", got)
	}
}
