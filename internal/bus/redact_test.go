package bus

import (
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"no user information", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"user and password", "nats://alice:s3cret@nats.internal:4222", "nats://redacted@nats.internal:4222"},
		{"token", "nats://t0ken@127.0.0.1:4222", "nats://redacted@127.0.0.1:4222"},
		{"list", "nats://a:pw1@h1:4222, nats://b:pw2@h2:4222", "nats://redacted@h1:4222,nats://redacted@h2:4222"},
		{"unparsable", "nats://a:%zz@h:4222", "nats://redacted"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactURL(tt.url)
			if got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.url, got, tt.want)
			}
			for _, secret := range []string{"s3cret", "t0ken", "pw1", "pw2", "%zz"} {
				if strings.Contains(got, secret) {
					t.Errorf("RedactURL(%q) = %q keeps %q", tt.url, got, secret)
				}
			}
		})
	}
}
