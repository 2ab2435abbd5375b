//go:build !linux

package bench

import (
	"syscall"
	"time"
)

// childAttr is nil where the kernel offers no parent-death signal: the
// bench still stops every child on each of its own exit paths.
func childAttr() *syscall.SysProcAttr { return nil }

// syncDisk does nothing here.
func syncDisk() {}

// procCPU reports nothing here: no /proc to read it from.
func procCPU(pid int) (time.Duration, bool) { return 0, false }
