//go:build !unix

package engine

import "testing"

// cpuClock reports nothing where getrusage is missing.
type cpuClock struct{}

func startCPUClock() cpuClock { return cpuClock{} }

func (cpuClock) report(*testing.B) {}
