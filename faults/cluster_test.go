//go:build faults

package faults

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	hjs "github.com/heraldev/herald/bus/jetstream"
)

// services are the shop services, one process each, in start order.
var services = []string{"users", "products", "orders", "query"}

// cluster is one test's herald deployment: a bus process and one process per
// service, each on a local port it picked itself at its first start, with
// their data in the test's temp dir. Restarts keep the ports and the data.
type cluster struct {
	t       *testing.T
	name    string // the test's name in the figures
	dir     string
	busAddr string            // the bus's host:port, kept across restarts
	addrs   map[string]string // service -> host:port, kept across restarts
	flags   map[string]string // flags every service starts with

	mu     sync.Mutex
	procs  []*proc          // every process ever started, oldest first
	live   map[string]*proc // the current process of each role
	starts map[string]int

	bus *hjs.Bus            // the test's own client of the bus
	nc  *nats.Conn          // its connection, which reconnects forever
	js  jetstream.JetStream // for stream and consumer info

	http   *http.Client
	stopBg context.CancelFunc
	bg     sync.WaitGroup
	lag    lagWatch
}

// svcOpts changes how one service process starts.
type svcOpts struct {
	Failpoints string            // HERALD_FAILPOINTS; empty for none
	Flags      map[string]string // flags overriding the cluster's, e.g. "--ack-wait": "2s"
}

// defaultFlags are the service flags of every test unless it overrides them.
// The ack wait is 5s instead of 30s so that events held by a killed consumer
// come back within the suite's time budget.
var defaultFlags = map[string]string{
	"--max-deliver": "5", "--ack-wait": "5s", "--max-stream-bytes": "0", "--stop-timeout": "10s",
}

// newCluster starts the bus in a fresh temp dir and connects the test to it.
// flags override defaultFlags for every service. Everything it starts is
// stopped in t.Cleanup; if the test failed, the tail of every log is printed.
func newCluster(t *testing.T, name string, flags map[string]string) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, dir: t.TempDir(), addrs: map[string]string{}, live: map[string]*proc{},
		starts: map[string]int{}, flags: maps.Clone(defaultFlags), http: &http.Client{Timeout: 2 * time.Second}}
	maps.Copy(c.flags, flags)
	t.Cleanup(c.printTailsIfFailed) // registered first, so it runs last
	t.Cleanup(c.stopAll)
	c.startBus()
	b, nc, err := hjs.Dial("nats://"+c.busAddr, "faults-test", hjs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.bus, c.nc = b, nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopBg = cancel
	c.bg.Add(1)
	go c.watchLag(ctx)
	return c
}

// startCluster is newCluster plus every service, started with opts[name].
func startCluster(t *testing.T, name string, flags map[string]string, opts map[string]svcOpts) *cluster {
	t.Helper()
	c := newCluster(t, name, flags)
	c.startServices(opts, services...)
	return c
}

// startBus starts `herald bus` on the cluster's data dir and waits until it
// accepts clients. The first start lets the bus pick a free port; restarts
// use the same port, so the services find it again.
func (c *cluster) startBus() {
	c.t.Helper()
	listen := cmp.Or(c.busAddr, "127.0.0.1:0")
	p := c.spawn("bus", nil, []string{"bus", "--data", c.dir, "--listen", listen})
	addr, err := waitAddr(p, busAddrRe)
	if err != nil {
		c.t.Fatalf("bus did not start: %v\n%s", err, p.tail(20))
	}
	c.busAddr = addr
}

// startServices starts the named services at once, each in its own process,
// and waits until every one answers /readyz. A service's first start lets it
// pick a free port; restarts use the same port.
func (c *cluster) startServices(opts map[string]svcOpts, names ...string) {
	c.t.Helper()
	started := map[string]*proc{}
	for _, name := range names {
		o := opts[name]
		flags := maps.Clone(c.flags)
		maps.Copy(flags, o.Flags)
		args := []string{"serve", name, "--nats", "nats://" + c.busAddr, "--data", c.dir,
			"--" + name + "-addr", cmp.Or(c.addr(name), "127.0.0.1:0")}
		for _, f := range slices.Sorted(maps.Keys(flags)) {
			args = append(args, f, flags[f])
		}
		var env []string
		if o.Failpoints != "" {
			env = append(env, "HERALD_FAILPOINTS="+o.Failpoints)
		}
		started[name] = c.spawn(name, env, args)
	}
	for _, name := range names {
		p := started[name]
		addr, err := waitAddr(p, regexp.MustCompile(`(?m)^\s+\S+\s+`+name+`\s+http://(\S+)$`))
		if err == nil {
			c.mu.Lock()
			c.addrs[name] = addr
			c.mu.Unlock()
			err = c.waitReady(p)
		}
		if err != nil {
			c.t.Fatalf("%s did not get ready: %v\n%s", name, err, p.tail(30))
		}
	}
}

// busAddrRe finds the bus's client address in its output.
var busAddrRe = regexp.MustCompile(`clients connect to nats://(\S+)`)

// waitAddr waits until the process prints the address re captures.
func waitAddr(p *proc, re *regexp.Regexp) (string, error) {
	var addr string
	err := waitFor(30*time.Second, 50*time.Millisecond, func() error {
		if m := re.FindStringSubmatch(p.logText()); m != nil {
			addr = m[1]
			return nil
		}
		if !p.alive() {
			return errExited
		}
		return errNotYet
	})
	return addr, err
}

// restart starts the named service again (its previous process must have
// exited) with opts, on the same address and database.
func (c *cluster) restart(name string, opts svcOpts) {
	c.t.Helper()
	c.startServices(map[string]svcOpts{name: opts}, name)
}

// spawn starts one process for role and makes it the live one.
func (c *cluster) spawn(role string, env, args []string) *proc {
	c.t.Helper()
	c.mu.Lock()
	c.starts[role]++
	n := c.starts[role]
	c.mu.Unlock()
	p, err := startProc(c.dir, role, n, env, args)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.live[role] = p
	c.mu.Unlock()
	return p
}

// proc returns the current process of role.
func (c *cluster) proc(role string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live[role]
}

// addr returns the listen address of a service, "" before its first start.
func (c *cluster) addr(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[name]
}

// url returns the base URL of a service.
func (c *cluster) url(name string) string { return "http://" + c.addr(name) }

// waitReady polls the service's /readyz until it answers 200.
func (c *cluster) waitReady(p *proc) error {
	return waitFor(30*time.Second, 100*time.Millisecond, func() error {
		if !p.alive() {
			return errExited
		}
		resp, err := c.http.Get(c.url(p.role) + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz answered %d", resp.StatusCode)
		}
		return nil
	})
}

// kill9 kills the live process of role with SIGKILL. For the query service
// it first reads the duplicate count of the lifetime that ends.
func (c *cluster) kill9(role string) {
	if role == "query" {
		c.sampleQuery()
	}
	killNine(c.proc(role))
}

// stopClean stops the live process of role with SIGTERM and fails the test
// if it does not stop cleanly.
func (c *cluster) stopClean(role string) {
	c.t.Helper()
	if role == "query" {
		c.sampleQuery()
	}
	if err := c.proc(role).stop(); err != nil {
		c.t.Fatal(err)
	}
}

// stopAll stops every process still running, services first and then the
// bus, and closes the test's connection.
func (c *cluster) stopAll() {
	if c.stopBg != nil {
		c.stopBg()
		c.bg.Wait()
	}
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.role != "bus" && p.alive() {
			wg.Go(func() {
				if err := p.stop(); err != nil {
					c.t.Errorf("cleanup: %v", err)
				}
			})
		}
	}
	wg.Wait()
	if c.nc != nil {
		c.nc.Close()
	}
	for _, p := range procs {
		if p.role == "bus" && p.alive() {
			if err := p.stop(); err != nil {
				c.t.Errorf("cleanup: %v", err)
			}
		}
	}
}

// printTailsIfFailed prints the end of every process's log after a failure.
func (c *cluster) printTailsIfFailed() {
	if !c.t.Failed() {
		return
	}
	for _, p := range c.procs {
		fmt.Fprintf(os.Stderr, "\n----- %s (%s, %v) -----\n%s\n", filepath.Base(p.logPath), c.name, p.status(), p.tail(40))
	}
}
