// Package redact hides secrets, such as credentials in URLs and the values
// of authorization headers, before text reaches logs, messages or reports.
package redact

import (
	"net/url"
	"strings"
)

// Mask replaces a secret.
const Mask = "[redacted]"

// secretHeaders are header names, in lower case, whose values are secret.
var secretHeaders = map[string]bool{
	"authorization":       true,
	"proxy-authorization": true,
	"cookie":              true,
	"set-cookie":          true,
}

// secretWords mark a header name or query parameter as secret wherever
// they appear in it, such as X-Api-Key or access_token.
var secretWords = []string{"token", "secret", "password", "passwd", "apikey", "api-key", "api_key", "session", "credential", "signature"}

// SecretName reports whether a header or query parameter called name
// carries a secret: Authorization, Cookie and names that contain words
// such as token, secret, password or api-key.
func SecretName(name string) bool {
	name = strings.ToLower(name)
	if secretHeaders[name] {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// URL returns raw with the password of its user information and the
// values of secret query parameters replaced by Mask. Text that does not
// parse as a URL has everything between "//" and the last "@" before the
// path replaced instead.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return maskUserinfo(raw)
	}
	changed := false
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Mask)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for name := range q {
			if SecretName(name) {
				q.Set(name, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	return u.String()
}

// maskUserinfo masks the user information of text that looks like a URL
// but does not parse as one.
func maskUserinfo(s string) string {
	start := strings.Index(s, "//")
	if start < 0 {
		return s
	}
	rest := s[start+2:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	return s[:start+2] + Mask + rest[at:]
}
