package testutil

import (
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestTargetCountsPerPath(t *testing.T) {
	target := NewTarget(t, map[string]Route{
		"/missing": {Status: http.StatusNotFound},
		"/slow":    {Delay: 50 * time.Millisecond},
	})
	requests := map[string]int{"/": 30, "/missing": 5, "/slow": 3}

	var wg sync.WaitGroup
	for path, n := range requests {
		for range n {
			wg.Go(func() {
				resp, err := http.Get(target.URL + path)
				if err != nil {
					t.Errorf("GET %s: %v", path, err)
					return
				}
				resp.Body.Close()
				want := http.StatusOK
				if path == "/missing" {
					want = http.StatusNotFound
				}
				if resp.StatusCode != want {
					t.Errorf("GET %s status = %d, want %d", path, resp.StatusCode, want)
				}
			})
		}
	}
	wg.Wait()

	for path, n := range requests {
		if got := target.Count(path); got != int64(n) {
			t.Errorf("Count(%q) = %d, want %d", path, got, n)
		}
	}
	if got := target.Count("/never"); got != 0 {
		t.Errorf("Count(/never) = %d, want 0", got)
	}
	if got := target.Total(); got != 38 {
		t.Errorf("Total() = %d, want 38", got)
	}
}

func TestProcessExitCodes(t *testing.T) {
	exited := StartProcess(t, "/bin/sh", "-c", "echo out; echo err >&2; exit 3")
	code, err := exited.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	if got := exited.Stdout(); got != "out\n" {
		t.Errorf("stdout = %q, want %q", got, "out\n")
	}
	if got := exited.Stderr(); got != "err\n" {
		t.Errorf("stderr = %q, want %q", got, "err\n")
	}

	sleeping := StartProcess(t, "/bin/sh", "-c", "exec sleep 30")
	if _, err := sleeping.Wait(50 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "still runs") {
		t.Errorf("Wait on a running process returned %v, want a timeout error", err)
	}
	if err := sleeping.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	code, err = sleeping.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != -1 {
		t.Errorf("exit code after SIGTERM = %d, want -1", code)
	}
	if err := sleeping.Signal(syscall.SIGTERM); err == nil {
		t.Error("Signal on an exited process returned no error")
	}
}

func TestProcessWaitIgnoresOrphanedPipe(t *testing.T) {
	// The background sleep keeps stdout open for 3 s after sh exits.
	p := StartProcess(t, "/bin/sh", "-c", "sleep 3 & exit 0")
	began := time.Now()
	code, err := p.Wait(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	if waited := time.Since(began); waited >= 3*time.Second {
		t.Errorf("Wait took %s, want less than the 3 s the background process holds the pipe", waited)
	}
}
