package testutil

import (
	"fmt"
	"testing"
	"time"
)

// pollInterval is how often Eventually checks its condition.
const pollInterval = 20 * time.Millisecond

// Eventually calls cond until it returns true and fails the test if that
// has not happened within timeout. The message, formatted with args,
// describes the awaited condition.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", timeout, fmt.Sprintf(format, args...))
		}
		time.Sleep(pollInterval)
	}
}
