package workload

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system) the process has used so
// far, on every thread: the benchmark's goroutines, the checkpointer, the
// garbage collector, and for mattn the C code of SQLite.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per unit, as
// "cpu-ns/"+unit. Unlike the wall time, it hardly grows when other
// processes share the cores, so it compares drivers on a noisy machine;
// it leaves out the time spent waiting for fsync.
func reportCPU(b *testing.B, start time.Duration, units float64, unit string) {
	b.ReportMetric(float64(cpuTime()-start)/units, "cpu-ns/"+unit)
}
