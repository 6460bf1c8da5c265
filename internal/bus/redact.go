package bus

import (
	"net/url"
	"strings"
)

// RedactURL returns a NATS server URL, or a comma-separated list of them,
// with the user information of each replaced by "redacted", so that a
// password or token never reaches a log line or an error message. A part
// that does not parse as a URL is kept only up to its scheme.
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, part := range parts {
		parts[i] = redactOne(strings.TrimSpace(part))
	}
	return strings.Join(parts, ",")
}

func redactOne(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		scheme, _, found := strings.Cut(raw, "://")
		if !found {
			return "redacted"
		}
		return scheme + "://redacted"
	}
	if u.User == nil {
		return raw
	}
	u.User = url.User("redacted")
	return u.String()
}
