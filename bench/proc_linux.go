package bench

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childAttr puts a child in its own process group, so a Ctrl-C at the
// terminal reaches only the bench, which stops its children in order; and
// has the kernel send it SIGTERM should the bench die without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// syncDisk writes every dirty page of the machine back to disk, and the
// discards of files deleted (the bench deletes each scenario's data), so
// that the next scenario's fsyncs do not wait for the last one's writeback.
func syncDisk() { syscall.Sync() }

// procCPU returns the CPU time process pid has used, user and system
// (utime + stime in /proc/<pid>/stat), its threads' included; false if
// /proc cannot tell.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, in parentheses, may hold spaces: the fields
	// counted are those after it, state first (field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every
// Linux architecture Go runs on (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100
