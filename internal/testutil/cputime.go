package testutil

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the processor time (user and system) the test process has
// used so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU reports a benchmark's processor time per op ("cpu-ns/op") and
// ops per processor second (unit+"/cpu-s") since start (CPUTime taken when
// the timed loop began): on a shared machine, where ns/op counts the time
// other processes held the core, these count only the benchmark's own.
// The process's other goroutines (the garbage collector's) count too.
func ReportCPU(b *testing.B, start time.Duration, ops int, unit string) {
	b.Helper()
	used := CPUTime() - start
	if used <= 0 || ops <= 0 {
		return
	}
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(ops)/used.Seconds(), unit+"/cpu-s")
}
