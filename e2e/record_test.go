package e2e

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/barrage-load/barrage/internal/testutil"
)

// subjectRecorder keeps every message of one subject with the time it
// arrived, so that a test can wait for one and later check all of them.
// Its methods are safe for concurrent use.
type subjectRecorder struct {
	subject string
	mu      sync.Mutex
	msgs    []recordedMsg
}

// recordedMsg is a message and the time the test received it.
type recordedMsg struct {
	at  time.Time
	msg *nats.Msg
}

// recordSubject subscribes to subject on the NATS server at url and records
// its messages until the test ends.
func recordSubject(t *testing.T, url, subject string) *subjectRecorder {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect to nats: %v", err)
	}
	t.Cleanup(nc.Close)
	r := &subjectRecorder{subject: subject}
	_, err = nc.Subscribe(subject, func(msg *nats.Msg) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.msgs = append(r.msgs, recordedMsg{at: time.Now(), msg: msg})
	})
	if err != nil {
		t.Fatalf("subscribe to %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush subscription: %v", err)
	}
	return r
}

// len returns how many messages arrived so far.
func (r *subjectRecorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// at returns the i-th message, counting from 0.
func (r *subjectRecorder) at(i int) recordedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msgs[i]
}

// between returns the messages from index from up to, not including, to.
func (r *subjectRecorder) between(from, to int) []recordedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs[from:to])
}

// since returns the messages that arrived at or after from, oldest first.
func (r *subjectRecorder) since(from time.Time) []recordedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedMsg
	for _, m := range r.msgs {
		if !m.at.Before(from) {
			out = append(out, m)
		}
	}
	return out
}

// all returns every message that arrived so far.
func (r *subjectRecorder) all() []recordedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// await returns the index of the first message at or after index from that
// match accepts. It fails the test when none has arrived within timeout,
// or when coord exits before one arrives.
func (r *subjectRecorder) await(t *testing.T, from int, timeout time.Duration, coord *testutil.Process,
	match func(recordedMsg) bool, format string, args ...any) int {
	t.Helper()
	next := from
	found := -1
	coordExited := false
	testutil.Eventually(t, timeout, func() bool {
		// Checking for an exit first lets the messages published before
		// it still match.
		coordExited = coord.Exited()
		for ; next < r.len(); next++ {
			if match(r.at(next)) {
				found = next
				return true
			}
		}
		return coordExited
	}, format, args...)
	if found < 0 {
		t.Fatalf("coordinator exited before %s; %d messages on %s", fmt.Sprintf(format, args...), r.len(), r.subject)
	}
	return found
}
