package bench

import (
	"context"
	"os"
	"time"
)

// cpuMeter measures the CPU time (user and system) that processes use
// from its start: the bench's own and the children doing a round's work,
// so a round's figures can say where the cycles per event went. Where
// procCPU cannot tell (not Linux), it measures nothing.
type cpuMeter struct {
	names []string
	pids  []int
	start []time.Duration
	ok    []bool
}

// cpuBench is the name the bench's own process is measured under: the
// load generator, the raw clients, the progress and the metric polls.
const cpuBench = "bench"

// startCPU starts measuring the bench process and each child of procs,
// by name; a nil child is left out.
func startCPU(procs map[string]*proc) *cpuMeter {
	m := &cpuMeter{}
	m.addPid(cpuBench, os.Getpid(), false)
	for name, p := range procs {
		if p != nil {
			m.addPid(name, p.Pid(), false)
		}
	}
	return m
}

// addNew measures child p too, by name, from its start: for a child
// started after the meter, all of whose CPU time counts.
func (m *cpuMeter) addNew(name string, p *proc) { m.addPid(name, p.Pid(), true) }

func (m *cpuMeter) addPid(name string, pid int, fromStart bool) {
	t, ok := procCPU(pid)
	if fromStart {
		t = 0
	}
	m.names, m.pids, m.start, m.ok = append(m.names, name), append(m.pids, pid), append(m.start, t), append(m.ok, ok)
}

// used returns the CPU time each process has used since the start, by
// name; a process that cannot be read (or has exited) is left out.
func (m *cpuMeter) used() map[string]time.Duration {
	out := map[string]time.Duration{}
	for i, pid := range m.pids {
		if t, ok := procCPU(pid); ok && m.ok[i] {
			out[m.names[i]] = t - m.start[i]
		}
	}
	return out
}

// cpuFigures adds used (see cpuMeter.used) per event, in microseconds,
// to f: cpu_us_<name> per process and cpu_us_per_event, their sum. It adds
// nothing for no events, or where no process could be read.
func cpuFigures(f Figures, used map[string]time.Duration, events int64) {
	if events <= 0 || len(used) == 0 {
		return
	}
	var total time.Duration
	for name, d := range used {
		f["cpu_us_"+name] = float64(d.Microseconds()) / float64(events)
		total += d
	}
	f["cpu_us_per_event"] = float64(total.Microseconds()) / float64(events)
}

// withCPU wraps side s, whose rounds' figures count their requests (see
// LoadResult.Figures), so that each round also measures the CPU time per
// request of the bench (the load generator) and of procs, by name (see
// cpuFigures).
func withCPU(s side, procs map[string]*proc) side {
	run := s.run
	s.run = func(ctx context.Context, round int) (Figures, error) {
		m := startCPU(procs)
		f, err := run(ctx, round)
		if f != nil {
			cpuFigures(f, m.used(), int64(f["requests"]))
		}
		return f, err
	}
	return s
}
