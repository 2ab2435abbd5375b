package bench

import "syscall"

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
