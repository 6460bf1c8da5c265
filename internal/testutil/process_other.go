//go:build !linux

package testutil

import "syscall"

// sysProcAttr returns nil because only Linux can kill a child process when
// its parent dies.
func sysProcAttr() *syscall.SysProcAttr { return nil }
