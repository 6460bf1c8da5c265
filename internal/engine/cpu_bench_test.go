//go:build unix

package engine

import (
	"syscall"
	"testing"
	"time"
)

// cpuClock is the CPU time of this process when a measurement began.
type cpuClock struct{ start time.Duration }

func startCPUClock() cpuClock { return cpuClock{start: processCPU()} }

// report adds the CPU time since the clock started, per operation, to
// the benchmark's result as cpu-ns/op.
func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
