package bench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestProcCPUGrowsWithWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	before, ok := procCPU(os.Getpid())
	if !ok {
		t.Fatal("procCPU cannot read this process")
	}
	// Spin until /proc shows 50ms more CPU; on a loaded machine that takes
	// longer than 50ms of wall time, so the bound is a deadline, not a
	// duration. A procCPU that does not see the work never gets there.
	var used time.Duration
	for deadline := time.Now().Add(20 * time.Second); used < 50*time.Millisecond && time.Now().Before(deadline); {
		for start := time.Now(); time.Since(start) < 10*time.Millisecond; {
			// spin
		}
		after, ok := procCPU(os.Getpid())
		if !ok {
			t.Fatal("procCPU cannot read this process any more")
		}
		used = after - before
	}
	if used < 50*time.Millisecond {
		t.Errorf("20s of spinning showed %s of CPU in /proc", used)
	}
	if _, ok := procCPU(1 << 30); ok {
		t.Error("procCPU read a process that does not exist")
	}
}

func TestCPUFiguresArePerEventAndSummed(t *testing.T) {
	f := Figures{}
	cpuFigures(f, map[string]time.Duration{"bus": 30 * time.Millisecond, "query": 70 * time.Millisecond}, 1000)
	if f["cpu_us_bus"] != 30 || f["cpu_us_query"] != 70 || f["cpu_us_per_event"] != 100 {
		t.Errorf("figures %v, want bus 30, query 70, total 100 µs per event", f)
	}
	empty := Figures{}
	cpuFigures(empty, map[string]time.Duration{"bus": time.Second}, 0)
	cpuFigures(empty, nil, 10)
	if len(empty) != 0 {
		t.Errorf("figures %v for no events or no processes, want none", empty)
	}
}
