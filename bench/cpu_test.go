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
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
		// spin
	}
	after, _ := procCPU(os.Getpid())
	if d := after - before; d < 50*time.Millisecond || d > 10*time.Second {
		t.Errorf("100ms of spinning used %s of CPU", d)
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
