package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// killWait bounds how long the cleanup of a Process waits for it to
	// exit after SIGKILL.
	killWait = 10 * time.Second
	// pipeWait bounds how long Wait waits, after the process exited, for
	// a process it started that still holds its output open.
	pipeWait = 2 * time.Second
)

// Process is a child process whose standard output and error are kept in
// memory. Its methods are safe for concurrent use.
type Process struct {
	name   string
	cmd    *exec.Cmd
	stdout Buffer
	stderr Buffer
	done   chan struct{} // closed once the process exited
	err    error         // result of cmd.Wait, set before done closes
}

// StartProcess starts the program at path with args. Variables of the form
// NATS_* are removed from its environment so that no inherited setting
// points it at another server. When the test ends the process is killed if
// it still runs, and its output is logged if the test failed. On Linux the
// process is also killed if the test binary dies first.
func StartProcess(t testing.TB, path string, args ...string) *Process {
	t.Helper()
	return StartProcessWithEnv(t, nil, path, args...)
}

// StartProcessWithEnv is StartProcess with env, variables of the form
// KEY=VALUE, added to the environment of the process after the NATS_*
// variables were removed.
func StartProcessWithEnv(t testing.TB, env []string, path string, args ...string) *Process {
	t.Helper()
	p := &Process{
		name: filepath.Base(path),
		cmd:  exec.Command(path, args...),
		done: make(chan struct{}),
	}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.SysProcAttr = sysProcAttr()
	p.cmd.WaitDelay = pipeWait
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s %s: %v", path, strings.Join(args, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			p.Kill()
			if _, err := p.Wait(killWait); err != nil {
				t.Errorf("%s: %v", p.name, err)
			}
		}
		if t.Failed() {
			t.Logf("%s %s (pid %d)\n--- stdout:\n%s\n--- stderr:\n%s",
				p.name, strings.Join(args, " "), p.PID(), p.Stdout(), p.Stderr())
		}
	})
	return p
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stdout returns the standard output written so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns the standard error written so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process. It returns an error if the process has
// exited.
func (p *Process) Signal(sig os.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s (pid %d) has already exited", p.name, p.PID())
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to the process unless it has exited.
func (p *Process) Kill() {
	if !p.Exited() {
		p.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code, or -1 when a signal ended it. It returns an error, and leaves the
// process running, when the timeout passes first or when the exit status
// cannot be read.
func (p *Process) Wait(timeout time.Duration) (int, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return 0, fmt.Errorf("%s (pid %d) still runs after %s", p.name, p.PID(), timeout)
	}
	var exitErr *exec.ExitError
	if p.err != nil && !errors.As(p.err, &exitErr) && !errors.Is(p.err, exec.ErrWaitDelay) {
		return 0, fmt.Errorf("wait for %s (pid %d): %w", p.name, p.PID(), p.err)
	}
	return p.cmd.ProcessState.ExitCode(), nil
}

// cleanEnv returns this process's environment without NATS_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") {
			env = append(env, kv)
		}
	}
	return env
}

// Buffer is a bytes.Buffer that one goroutine may write while others read
// it, such as the output of a process or a logger.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(data)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
