//go:build faults

package failpoint

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type point struct {
	action string
	at     int // the hit that fires it
	hits   int
}

var (
	mu     sync.Mutex
	points = parse(os.Getenv("HERALD_FAILPOINTS"))
)

func parse(spec string) map[string]*point {
	m := map[string]*point{}
	for _, item := range strings.Split(spec, ",") {
		name, action, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		p := &point{action: action, at: 1}
		if a, n, ok := strings.Cut(action, "@"); ok {
			p.action = a
			if v, err := strconv.Atoi(n); err == nil && v > 0 {
				p.at = v
			}
		}
		m[name] = p
	}
	return m
}

// InjectData panics if name is set to "panic-if:<text>" and data contains
// text; other actions behave as in Inject.
func InjectData(name string, data []byte) {
	mu.Lock()
	p := points[name]
	mu.Unlock()
	if p != nil && strings.HasPrefix(p.action, "panic-if:") {
		if text := strings.TrimPrefix(p.action, "panic-if:"); strings.Contains(string(data), text) {
			panic("failpoint " + name + ": data contains " + text)
		}
		return
	}
	Inject(name)
}

// Inject runs the action configured for name if this is the hit it waits for.
func Inject(name string) {
	mu.Lock()
	p := points[name]
	fire := false
	if p != nil {
		p.hits++
		fire = p.hits == p.at
	}
	mu.Unlock()
	if !fire {
		return
	}
	switch {
	case p.action == "kill":
		fmt.Fprintf(os.Stderr, "failpoint %s: kill -9 at hit %d\n", name, p.at)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case p.action == "panic":
		panic("failpoint " + name)
	case strings.HasPrefix(p.action, "sleep:"):
		if d, err := time.ParseDuration(strings.TrimPrefix(p.action, "sleep:")); err == nil {
			time.Sleep(d)
		}
	}
}
