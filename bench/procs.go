package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one child process of the bench: a herald bus, one or more
// services, or an anchor. Its stdout and stderr go to a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	urls    map[string]string // service name (or "bus", "dashboard") → base URL, from its start lines
	done    chan struct{}     // closed once it has exited
	ready   chan struct{}     // closed once it has printed readyLine
	exitErr error             // valid once done is closed
	started time.Time
	logf    *os.File // closed once it has exited
}

// Pid is the process id.
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// URL returns the base URL the process printed for service, or "".
func (p *proc) URL(service string) string { return p.urls[service] }

func (p *proc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// tail returns the last lines of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// procs starts children and stops every one still running in Close, so
// that no exit path of the bench leaves one behind. It is safe for
// concurrent use.
type procs struct {
	bin    string   // the herald binary
	env    []string // the children's environment
	logDir string
	spawn  chan spawnReq // to the goroutine that starts every child

	mu  sync.Mutex
	all []*proc
	n   map[string]int
}

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// spawner starts every child from one goroutine locked to its OS thread,
// until spawn is closed: Linux sends a child its parent-death signal when
// the thread that started it exits, not the process, and the Go runtime
// may end an idle thread.
func spawner(spawn <-chan spawnReq) {
	runtime.LockOSThread()
	for r := range spawn {
		r.done <- r.cmd.Start()
	}
}

func newProcs(bin string, extraEnv []string, logDir string) (*procs, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	// A developer's HERALD_* settings must not change what the bench runs.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			env = append(env, kv)
		}
	}
	// Services serve their CPU profiles (herald serve --pprof), which the
	// bench saves during Herald's rounds.
	env = append(env, "HERALD_LOG_LEVEL=warn", "HERALD_PPROF=true")
	env = append(env, extraEnv...)
	ps := &procs{bin: bin, env: env, logDir: logDir, n: map[string]int{}, spawn: make(chan spawnReq)}
	go spawner(ps.spawn)
	return ps, nil
}

// readyLine is the line herald serve, herald bus and the anchors print once
// they are ready.
const readyLine = "Press Ctrl-C to stop."

var (
	urlLine = regexp.MustCompile(`^\s+\S+\s+(\S+)\s+(http://\S+)$`)
	busLine = regexp.MustCompile(`clients connect to (nats://\S+)`)
	// herald dashboard's: "dashboard at http://127.0.0.1:8080/ for the bus at ...".
	dashboardLine = regexp.MustCompile(`^dashboard at (http://\S+?)/? for the bus at `)
)

// start runs the herald binary with args as the child called name, and
// waits until it prints readyLine (collecting the URLs it prints before),
// it exits, or ctx ends or a minute passes.
func (ps *procs) start(ctx context.Context, name string, args ...string) (*proc, error) {
	p, err := ps.launch(name, args...)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready (%v); its log %s ends:\n%s", name, p.exitErr, p.logPath, p.tail())
	case <-ctx.Done():
		ps.stop(p)
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		ps.stop(p)
		return nil, fmt.Errorf("%s not ready after a minute; its log %s ends:\n%s", name, p.logPath, p.tail())
	}
}

// launch runs the herald binary with args as the child called name and
// returns at once: for a command that runs to its end, such as herald
// rebuild, whose output is then in its log. Its ready channel is closed if
// it prints readyLine.
func (ps *procs) launch(name string, args ...string) (*proc, error) {
	ps.mu.Lock()
	ps.n[name]++
	logPath := filepath.Join(ps.logDir, fmt.Sprintf("%s-%d.log", name, ps.n[name]))
	ps.mu.Unlock()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(ps.bin, args...)
	cmd.Env = ps.env
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	fmt.Fprintf(logf, "$ herald %s\n", strings.Join(args, " "))
	req := spawnReq{cmd: cmd, done: make(chan error, 1)}
	ps.spawn <- req
	if err := <-req.done; err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, urls: map[string]string{}, done: make(chan struct{}), ready: make(chan struct{}),
		started: time.Now(), logf: logf}
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()

	var outDone sync.WaitGroup
	outDone.Add(1)
	go func() { // copy stdout to the log, noting URLs until ready
		defer outDone.Done()
		sc := bufio.NewScanner(out)
		isReady := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if isReady {
				continue
			}
			if m := urlLine.FindStringSubmatch(line); m != nil {
				p.urls[m[1]] = m[2]
			}
			if m := busLine.FindStringSubmatch(line); m != nil {
				p.urls["bus"] = m[1]
			}
			if m := dashboardLine.FindStringSubmatch(line); m != nil {
				p.urls["dashboard"] = m[1]
			}
			if strings.TrimSpace(line) == readyLine {
				fmt.Fprintf(logf, "# bench: ready %s after start\n", time.Since(p.started).Round(time.Millisecond))
				isReady = true
				close(p.ready)
			}
		}
		_, _ = io.Copy(logf, out)
	}()
	go func() {
		outDone.Wait() // Wait must not run before stdout is read to its end
		p.exitErr = cmd.Wait()
		fmt.Fprintf(logf, "# bench: exited %s after start: %v\n", time.Since(p.started).Round(time.Millisecond), p.exitErr)
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// stopTimeout is how long a child may take to stop cleanly after SIGTERM
// before it is killed.
const stopTimeout = 20 * time.Second

// stop asks p to stop (SIGTERM), kills it (SIGKILL) if it has not exited
// within stopTimeout, and waits until it has exited. It returns an error if
// the stop was not clean.
func (ps *procs) stop(p *proc) error {
	if p == nil || !p.alive() {
		return nil
	}
	fmt.Fprintf(p.logf, "# bench: SIGTERM %s after start\n", time.Since(p.started).Round(time.Millisecond))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exit *exec.ExitError
		if p.exitErr != nil && !(errors.As(p.exitErr, &exit) && !exit.Exited()) {
			return fmt.Errorf("%s (pid %d) stopped with %v", p.name, p.Pid(), p.exitErr)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s (pid %d) still running %s after SIGTERM; killed", p.name, p.Pid(), stopTimeout)
	}
}

// interrupt asks p to stop (SIGTERM), as an operator's Ctrl-C would, and
// waits until it has exited, killing it (SIGKILL) after stopTimeout. How
// it exited is p's to judge: a command interrupted exits with an error.
func (ps *procs) interrupt(p *proc) {
	if p == nil || !p.alive() {
		return
	}
	fmt.Fprintf(p.logf, "# bench: SIGTERM %s after start\n", time.Since(p.started).Round(time.Millisecond))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		ps.kill(p)
	}
}

// kill stops p at once with SIGKILL and waits until it has exited.
func (ps *procs) kill(p *proc) {
	if p == nil || !p.alive() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Shutdown stops every child still running (see Close) and the goroutine
// that starts them; start must not be called after it.
func (ps *procs) Shutdown() error {
	err := ps.Close()
	close(ps.spawn)
	return err
}

// Close stops every child still running, in reverse start order.
func (ps *procs) Close() error {
	ps.mu.Lock()
	all := ps.all
	ps.all = nil
	ps.mu.Unlock()
	var errs []error
	for i := len(all) - 1; i >= 0; i-- {
		errs = append(errs, ps.stop(all[i]))
	}
	return errors.Join(errs...)
}

// peakRSS returns the peak resident set size of process pid in bytes
// (VmHWM in /proc/<pid>/status), or 0 where /proc cannot tell.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
