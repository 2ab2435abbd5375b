//go:build faults || cluster

package faults

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one process a test started: a bus node or one service (or, for
// herald up, all of them). Its stdout and stderr go to one log file in the
// test's directory.
type proc struct {
	role    string // "bus", "users", "products", "orders" or "query"; "bus-2", "orders-1", "query-a" in a scaled deployment
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}  // closed once the process has exited
	exitErr error          // how it exited; valid once done is closed
	stopSig syscall.Signal // what stop sends: SIGTERM, or SIGINT if set so

	dup     highWater // herald_events_duplicate_total read from it
	handled highWater // herald_events_handled_total{consumer="shop-orders",result="ok"} read from it
}

// startProc starts bin (the herald binary, or another server) with args
// and env (on top of the environment without any HERALD_* variable),
// logging to <dir>/<role>-<n>.log.
func startProc(dir, role string, n int, bin string, env, args []string) (*proc, error) {
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", role, n))
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	p := &proc{role: role, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// cleanEnv is this process's environment without HERALD_* variables, so a
// developer's settings cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	return env
}

// pid is the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process has not exited yet.
func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// status says whether the process runs or how it exited.
func (p *proc) status() string {
	if p.alive() {
		return fmt.Sprintf("pid %d running", p.pid())
	}
	return fmt.Sprintf("pid %d exited: %v", p.pid(), p.exitErr)
}

// waitExit waits up to d for the process to exit and reports whether it did.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop asks the process to stop cleanly (SIGTERM, or SIGINT, after a
// SIGCONT in case it is paused) and kills it with SIGKILL if it has not
// exited within 20s. It returns an error if the stop was not clean.
func (p *proc) stop() error {
	if !p.alive() {
		return nil
	}
	sig, name := syscall.SIGTERM, "SIGTERM"
	if p.stopSig == syscall.SIGINT {
		sig, name = syscall.SIGINT, "SIGINT"
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(sig)
	if p.waitExit(20 * time.Second) {
		if p.exitErr != nil {
			return fmt.Errorf("%s (pid %d) exited with %v after %s", p.role, p.pid(), p.exitErr, name)
		}
		return nil
	}
	killNine(p)
	return fmt.Errorf("%s (pid %d) still running 20s after %s; killed", p.role, p.pid(), name)
}

// killNine sends SIGKILL, as kill -9 does, and waits for the process to be
// gone.
func killNine(p *proc) {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(10 * time.Second)
}

// pause freezes the process with SIGSTOP; resume thaws it with SIGCONT.
func pause(p *proc) error  { return p.cmd.Process.Signal(syscall.SIGSTOP) }
func resume(p *proc) error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// logText returns the process's whole log.
func (p *proc) logText() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitFor polls cond every interval until it returns nil or timeout passes;
// it returns cond's last error on timeout. It gives up at once when cond
// returns a permanent error (errExited, errStuck).
func waitFor(timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if errors.Is(err, errExited) || errors.Is(err, errStuck) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// errExited is returned by readiness checks when the process died.
var errExited = errors.New("process exited")

// errNotYet is what a waitFor condition returns while it does not hold yet.
var errNotYet = errors.New("not yet")
