//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// errStillRunning is returned by process.wait when the process did not
// exit in time.
var errStillRunning = errors.New("still ran")

// waitDelay bounds how long Wait waits, after a process exited, for a
// child of it that still holds its output open.
const waitDelay = 2 * time.Second

// process is a child process whose output is kept in memory. Its methods
// are safe for concurrent use.
type process struct {
	name   string
	cmd    *exec.Cmd
	output lockedBuffer // standard output and error, interleaved
	done   chan struct{}
	err    error // result of cmd.Wait, set before done closes
}

// pinning is the placement of the harness's processes: each on the core
// it is given, if the machine has two and taskset is installed.
type pinning struct {
	taskset string // path of taskset, empty to run unpinned
}

// newPinning returns the pinning of this machine. With two cores or more
// and taskset, processes run on the core they are given. Otherwise they
// run where the kernel puts them, and note gives the reason.
func newPinning() (pinning, string) {
	if cores := numCPU(); cores < 2 {
		return pinning{}, fmt.Sprintf("the machine has %d core, so no process is pinned", cores)
	}
	path, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}, "taskset is missing (Debian package util-linux), so no process is pinned"
	}
	return pinning{taskset: path}, ""
}

// command returns the command line that runs args on core, or args
// unchanged when processes are not pinned.
func (p pinning) command(core int, args ...string) []string {
	if p.taskset == "" || core < 0 {
		return args
	}
	return append([]string{p.taskset, "-c", strconv.Itoa(core)}, args...)
}

// start starts args[0] with the rest as arguments on core (-1 for any),
// with env added to this process's environment. The process gets SIGKILL
// when ctx is done or when the harness dies.
func (p pinning) start(ctx context.Context, core int, env []string, args ...string) (*process, error) {
	return p.startIn(ctx, "", core, env, args...)
}

// startIn is start with the working directory dir; empty means the
// harness's own.
func (p pinning) startIn(ctx context.Context, dir string, core int, env []string, args ...string) (*process, error) {
	line := p.command(core, args...)
	cmd := exec.CommandContext(ctx, line[0], line[1:]...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = waitDelay
	pr := &process{name: filepath.Base(args[0]), cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &pr.output
	cmd.Stderr = &pr.output
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", strings.Join(line, " "), err)
	}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	return pr, nil
}

// run starts args like start and waits for it to exit. It returns the
// process, whose output and resource use can then be read, and an error
// when it could not start, did not exit within timeout or exited with a
// status other than 0.
func (p pinning) run(ctx context.Context, timeout time.Duration, core int, env []string, args ...string) (*process, error) {
	return p.runIn(ctx, "", timeout, core, env, args...)
}

// runIn is run with the working directory dir.
func (p pinning) runIn(ctx context.Context, dir string, timeout time.Duration, core int, env []string, args ...string) (*process, error) {
	pr, err := p.startIn(ctx, dir, core, env, args...)
	if err != nil {
		return nil, err
	}
	if err := pr.wait(timeout); err != nil {
		return pr, err
	}
	return pr, nil
}

// pid returns the process id.
func (pr *process) pid() int { return pr.cmd.Process.Pid }

// exited reports whether the process has exited.
func (pr *process) exited() bool {
	select {
	case <-pr.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the process to exit. It returns an error
// when the time passes first, after killing the process, or when the
// process exited with a status other than 0.
func (pr *process) wait(timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-pr.done:
	case <-timer.C:
		pr.kill()
		return fmt.Errorf("%s (pid %d) %w after %s and was killed; its output:\n%s",
			pr.name, pr.pid(), errStillRunning, timeout, pr.tail())
	}
	if pr.err != nil && !errors.Is(pr.err, exec.ErrWaitDelay) {
		return fmt.Errorf("%s: %w; its output:\n%s", pr.name, pr.err, pr.tail())
	}
	return nil
}

// signal sends sig unless the process has exited.
func (pr *process) signal(sig syscall.Signal) {
	if !pr.exited() {
		pr.cmd.Process.Signal(sig)
	}
}

// kill sends SIGKILL and waits for the process to exit.
func (pr *process) kill() {
	pr.signal(syscall.SIGKILL)
	<-pr.done
}

// cpu returns the CPU time the process used, in user and system mode.
// It is only known once the process has exited.
func (pr *process) cpu() (user, system time.Duration) {
	if pr.cmd.ProcessState == nil {
		return 0, 0
	}
	return pr.cmd.ProcessState.UserTime(), pr.cmd.ProcessState.SystemTime()
}

// text returns the output written so far.
func (pr *process) text() string { return pr.output.String() }

// tail returns the last lines of the output, for error messages.
func (pr *process) tail() string {
	out := strings.TrimRight(pr.text(), "\n")
	lines := strings.Split(out, "\n")
	if len(lines) > 20 {
		lines = append([]string{"..."}, lines[len(lines)-20:]...)
	}
	return strings.Join(lines, "\n")
}

// cleanEnv returns this process's environment without NATS_* and
// GOMAXPROCS, so that no inherited setting changes what a process
// measures.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NATS_") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	return env
}

// lockedBuffer is a bytes.Buffer that one goroutine may write while
// others read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(data)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clockTicks is the unit of the CPU times in /proc/PID/stat, USER_HZ,
// which is 100 on every Linux architecture that Go supports.
const clockTicks = 100

// procCPU returns the CPU time, user plus system, that process pid has
// used so far, from /proc/PID/stat, in steps of 10 ms.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields that
	// follow it are numbered from 3.
	text := string(data)
	end := strings.LastIndexByte(text, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc/%d/stat has no command name", pid)
	}
	fields := strings.Fields(text[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat has %d fields after the name", pid, len(fields))
	}
	// Fields 14 and 15, utime and stime, are the 12th and 13th here.
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// procRSS returns the resident set size of process pid in bytes, VmRSS of
// /proc/PID/status.
func procRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS %q: %w", pid, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// loadAverage returns the 1-minute load average from /proc/loadavg, or
// -1 when it cannot be read.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitPort waits up to timeout until addr accepts TCP connections.
func waitPort(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts connections on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
