// Package allowlist decides which hosts a worker may send load to: host
// names, wildcard names and networks given with --allow-target.
package allowlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ErrNotAllowed is wrapped by the errors of Check for a host that the list
// does not allow.
var ErrNotAllowed = errors.New("not allowed by --allow-target")

// List is a set of allowed targets. A nil *List allows every host. A List
// is safe for concurrent use once built.
type List struct {
	patterns []string       // as given, for messages
	names    []string       // lower-case names; "*.example.com" matches subdomains
	nets     []netip.Prefix // networks; a single address is a /32 or /128
}

// Parse builds a list from patterns: host names such as api.example.com,
// wildcards such as *.example.com (any subdomain, not the name itself),
// addresses such as 10.1.2.3 or ::1, and networks such as 10.0.0.0/8. A
// pattern may also hold several of these separated by commas. Parse returns
// nil and no error for no patterns, meaning every host is allowed.
func Parse(patterns []string) (*List, error) {
	l := &List{}
	for _, arg := range patterns {
		for _, p := range strings.Split(arg, ",") {
			p = strings.TrimSpace(p)
			if err := l.add(p); err != nil {
				return nil, err
			}
		}
	}
	if len(l.patterns) == 0 {
		return nil, nil
	}
	return l, nil
}

// add adds one pattern.
func (l *List) add(p string) error {
	switch {
	case p == "":
		return errors.New("invalid --allow-target: empty pattern; give a host name, *.domain, an address or a network such as 10.0.0.0/8")
	case strings.Contains(p, "://"):
		return fmt.Errorf("invalid --allow-target %q: use a host name such as api.example.com without a scheme or path", p)
	case strings.Contains(p, "/"):
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("invalid --allow-target %q: not a network such as 10.0.0.0/8: %w", p, err)
		}
		l.nets = append(l.nets, prefix.Masked())
	default:
		if addr, err := netip.ParseAddr(strings.Trim(p, "[]")); err == nil {
			addr = addr.Unmap()
			l.nets = append(l.nets, netip.PrefixFrom(addr, addr.BitLen()))
			break
		}
		name := strings.ToLower(strings.TrimSuffix(p, "."))
		if !validName(name) {
			return fmt.Errorf("invalid --allow-target %q: use a host name such as api.example.com, a wildcard such as *.example.com, an address or a network", p)
		}
		l.names = append(l.names, name)
	}
	l.patterns = append(l.patterns, p)
	return nil
}

// validName reports whether name is a host name, or a wildcard "*." in
// front of one, made of letters, digits, '-', '_' and dots.
func validName(name string) bool {
	name = strings.TrimPrefix(name, "*.")
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// String returns the patterns as given, separated by commas.
func (l *List) String() string {
	if l == nil {
		return "any host"
	}
	return strings.Join(l.patterns, ",")
}

// MatchesName reports whether host, a name without a port, matches one of
// the list's names or wildcards. Addresses never match a name.
func (l *List) MatchesName(host string) bool {
	if l == nil {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, n := range l.names {
		if suffix, ok := strings.CutPrefix(n, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == n {
			return true
		}
	}
	return false
}

// AllowsAddr reports whether addr lies in one of the list's networks.
func (l *List) AllowsAddr(addr netip.Addr) bool {
	if l == nil {
		return true
	}
	addr = addr.Unmap()
	for _, n := range l.nets {
		if n.Contains(addr) {
			return true
		}
	}
	return false
}

// Check returns nil when load may go to host, a name or address without a
// port: a name that matches, an address in a network, or a name whose
// every address lies in the networks. It returns an error wrapping
// ErrNotAllowed otherwise, or the resolver's error for a name that does not
// resolve. Connections must still be checked with AllowsAddr when they are
// made, because a name may resolve elsewhere later.
func (l *List) Check(ctx context.Context, host string) error {
	if l == nil || l.MatchesName(host) {
		return nil
	}
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if l.AllowsAddr(addr) {
			return nil
		}
		return fmt.Errorf("target %s is %w %s", host, ErrNotAllowed, l)
	}
	if len(l.nets) == 0 {
		return fmt.Errorf("target %s is %w %s", host, ErrNotAllowed, l)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("resolve target %s to check --allow-target: %w", host, err)
	}
	for _, a := range addrs {
		if !l.AllowsAddr(a) {
			return fmt.Errorf("target %s resolves to %s, which is %w %s", host, a, ErrNotAllowed, l)
		}
	}
	return nil
}
