//go:build !linux

package bench

import "syscall"

// childAttr is nil where the kernel offers no parent-death signal: the
// bench still stops every child on each of its own exit paths.
func childAttr() *syscall.SysProcAttr { return nil }

// syncDisk does nothing here.
func syncDisk() {}
