package bus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestIsConflictMatchesEveryWrongLastSequence(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"key exists", fmt.Errorf("create: %w", jetstream.ErrKeyExists), true},
		{"code 10071 of a single server", &jetstream.APIError{Code: 400, ErrorCode: 10071, Description: "wrong last sequence: 7"}, true},
		{"code 10164 of a replicated stream", &jetstream.APIError{Code: 400, ErrorCode: 10164, Description: "wrong last sequence"}, true},
		{"another code with the message", errors.New("nats: API error: code=400 err_code=10999 description=wrong last sequence"), true},
		{"a timeout", errors.New("context deadline exceeded"), false},
		{"no responders", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isConflict(tt.err); got != tt.want {
				t.Errorf("isConflict(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
