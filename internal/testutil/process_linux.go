package testutil

import "syscall"

// sysProcAttr makes the kernel kill a child process when the test binary
// dies, so that no worker outlives a crashed or timed-out test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
