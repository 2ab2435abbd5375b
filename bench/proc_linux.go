package bench

import "syscall"

// childAttr puts a child in its own process group, so a Ctrl-C at the
// terminal reaches only the bench, which stops its children in order; and
// has the kernel send it SIGTERM should the bench die without stopping it.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
