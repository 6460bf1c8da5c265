package redact

import (
	"strings"
	"testing"
)

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"Authorization": true, "cookie": true, "X-Api-Key": true, "X-Auth-Token": true,
		"access_token": true, "client_secret": true, "Accept": false, "Content-Type": false, "page": false,
	} {
		if got := SecretName(name); got != want {
			t.Errorf("SecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080/a?b=1", "http://127.0.0.1:8080/a?b=1"},
		{"nats://user:hunter2@127.0.0.1:4222", "nats://user:%5Bredacted%5D@127.0.0.1:4222"},
		{"nats://onlyuser@127.0.0.1:4222", "nats://onlyuser@127.0.0.1:4222"},
		{"http://127.0.0.1/x?token=abc&page=2", "http://127.0.0.1/x?page=2&token=%5Bredacted%5D"},
		{"http://user:pa ss@bad host/", "http://[redacted]@bad host/"},
	}
	for _, tt := range tests {
		got := URL(tt.in)
		if got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"hunter2", "abc", "pa ss"} {
			if strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q still contains %q", tt.in, got, secret)
			}
		}
	}
}
