//go:build faults || cluster

package faults

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	hjs "github.com/heraldev/herald/bus/jetstream"
)

// services are the shop services, in start order.
var services = []string{"users", "products", "orders", "query"}

// writeServices are the shop services with a database of record and an
// outbox.
var writeServices = []string{"users", "products", "orders"}

// deployment says what a cluster runs. Its zero value is the fault suite's:
// one `herald bus` process, one process per shop service, every database a
// SQLite file in the test's dir.
type deployment struct {
	// BusNodes is how many servers form the NATS cluster, each its own
	// process, data dir and ports (roles "bus-1", "bus-2", ...). 0 or 1 runs
	// one server, not clustered (role "bus").
	BusNodes int
	// NATSServer, if set, is the path of an official nats-server binary
	// that runs the bus nodes instead of `herald bus`.
	NATSServer string
	// DB maps a write service to its database URL (postgres://...). The
	// others keep a SQLite file in the test's dir.
	DB map[string]string
	// Instances maps a write service to how many processes run it (default
	// 1), all on its one database. With two or more, their roles are
	// "<service>-1", "<service>-2", ...; with one, the service's name.
	Instances map[string]int
	// Replicas names the query replicas, each its own process, read model
	// (<dir>/shop-query-<name>.db) and durable consumer (shop-query-<name>),
	// roles "query-<name>". None runs the one unnamed query service.
	Replicas []string
}

// cluster is one test's herald deployment: the bus nodes and the service
// processes, each on a local port it picked itself at its first start (bus
// route ports are picked by the test up front), with their data in the
// test's temp dir. Restarts keep the ports and the data.
type cluster struct {
	t     *testing.T
	name  string // the test's name in the figures
	dir   string
	dep   deployment
	addrs map[string]string // role -> host:port of a service or a bus node's clients, kept across restarts
	route map[string]string // bus role -> host:port of its cluster routes, picked up front
	flags map[string]string // flags every service starts with

	mu     sync.Mutex
	procs  []*proc          // every process ever started, oldest first
	live   map[string]*proc // the current process of each role
	starts map[string]int
	dbs    map[string]*sql.DB // write service -> the test's pool on its PostgreSQL database
	marks  map[*proc]int      // log lengths noted by markLogs

	bus *hjs.Bus            // the test's own client of the bus, as the NATS admin
	nc  *nats.Conn          // its connection, which reconnects forever
	js  jetstream.JetStream // for stream and consumer info

	adminToken string // the operator token of herald keys, for /metrics and every write of the load that is not a user's

	http   *http.Client
	stopBg context.CancelFunc
	bg     sync.WaitGroup
	lag    highWater
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

// newCluster starts the fault suite's bus (one `herald bus`) in a fresh
// temp dir and connects the test to it; see newDeployment.
func newCluster(t *testing.T, name string, flags map[string]string) *cluster {
	t.Helper()
	return newDeployment(t, name, flags, deployment{})
}

// newDeployment starts the bus nodes of dep in a fresh temp dir and
// connects the test to them; with several nodes it waits until their
// JetStream cluster can place three replicas. flags override defaultFlags
// for every service. Everything it starts is stopped in t.Cleanup; if the
// test failed, the tail of every log is printed.
func newDeployment(t *testing.T, name string, flags map[string]string, dep deployment) *cluster {
	t.Helper()
	c := newHarness(t, name, flags, dep)
	if c.clusteredBus() {
		c.pickBusPorts()
		c.natsConfig()
	}
	c.startBus()
	c.connect()
	if dep.BusNodes > 1 {
		c.waitJetStreamCluster()
	}
	return c
}

// newHarness returns the cluster of dep in a fresh temp dir, with its
// token keys made (see makeKeys) and nothing started yet, and arranges for
// t.Cleanup to stop everything it will start and, if the test failed, to
// print the tail of every log.
func newHarness(t *testing.T, name string, flags map[string]string, dep deployment) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, dir: t.TempDir(), dep: dep, addrs: map[string]string{}, route: map[string]string{},
		live: map[string]*proc{}, starts: map[string]int{}, dbs: map[string]*sql.DB{}, flags: maps.Clone(defaultFlags),
		http: &http.Client{Timeout: 2 * time.Second}}
	maps.Copy(c.flags, flags)
	t.Cleanup(c.printTailsIfFailed) // registered first, so it runs last
	t.Cleanup(c.stopAll)
	c.makeKeys()
	return c
}

// connect connects the test to the bus, as the NATS admin, and starts the
// lag watch.
func (c *cluster) connect() {
	c.t.Helper()
	b, nc, err := hjs.Dial(c.natsURL(), "faults-test", hjs.Options{}, c.natsOptions(hjs.AdminIdentity)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.bus, c.nc = b, nc
	if c.js, err = jetstream.New(nc); err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopBg = cancel
	c.bg.Add(1)
	go c.watchLag(ctx)
}

// startCluster is newCluster plus every service, started with opts[name].
func startCluster(t *testing.T, name string, flags map[string]string, opts map[string]svcOpts) *cluster {
	t.Helper()
	return startDeployment(t, name, flags, deployment{}, opts)
}

// startDeployment is newDeployment plus every service role of dep, all
// started at once (as `docker compose up` or a Kubernetes rollout does),
// each with opts[role] (or opts[service] if no role is named).
func startDeployment(t *testing.T, name string, flags map[string]string, dep deployment, opts map[string]svcOpts) *cluster {
	t.Helper()
	c := newDeployment(t, name, flags, dep)
	c.startServices(opts, c.serviceRoles()...)
	return c
}

// roles returns the process roles that run service, in order: the
// service's name, or one per instance or query replica.
func (c *cluster) roles(service string) []string {
	if service == "query" && len(c.dep.Replicas) > 0 {
		var out []string
		for _, r := range c.dep.Replicas {
			out = append(out, "query-"+r)
		}
		return out
	}
	n := c.dep.Instances[service]
	if service == "bus" {
		n = c.dep.BusNodes
	}
	if n <= 1 {
		return []string{service}
	}
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s-%d", service, i))
	}
	return out
}

// serviceRoles are the roles of every shop service, in start order.
func (c *cluster) serviceRoles() []string {
	var out []string
	for _, s := range services {
		out = append(out, c.roles(s)...)
	}
	return out
}

// serviceOf returns the service (or "bus") that role runs.
func serviceOf(role string) string {
	s, _, _ := strings.Cut(role, "-")
	return s
}

// replicaOf returns the query replica name of role, "" for the unnamed one.
func replicaOf(role string) string {
	_, r, _ := strings.Cut(role, "-")
	return r
}

// consumerOf returns the durable consumer of a query role.
func consumerOf(role string) string {
	if r := replicaOf(role); r != "" {
		return "shop-query-" + r
	}
	return "shop-query"
}

// pickBusPorts picks a free loopback port for each bus node's routes (and,
// for nats-server, which prints no address it picked, for its clients),
// holding all of them open at once so no two coincide.
func (c *cluster) pickBusPorts() {
	c.t.Helper()
	roles := c.roles("bus")
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	pick := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.t.Fatal(err)
		}
		ls = append(ls, l)
		return l.Addr().String()
	}
	for _, r := range roles {
		if len(roles) > 1 {
			c.route[r] = pick()
		}
		if c.dep.NATSServer != "" {
			c.addrs[r] = pick()
		}
	}
}

// routeURLs lists every bus node's route URL, the same list for each.
func (c *cluster) routeURLs(scheme string) string {
	var urls []string
	for _, r := range c.roles("bus") {
		urls = append(urls, scheme+"://"+c.route[r])
	}
	return strings.Join(urls, ",")
}

// natsURL is the client URL of the bus: every node's, comma-separated.
func (c *cluster) natsURL() string {
	var urls []string
	for _, r := range c.roles("bus") {
		urls = append(urls, "nats://"+c.addr(r))
	}
	return strings.Join(urls, ",")
}

// startBus starts every bus node that is not running and waits until each
// accepts clients. See startBusNodes.
func (c *cluster) startBus() {
	c.t.Helper()
	var down []string
	for _, r := range c.roles("bus") {
		if p := c.proc(r); p == nil || !p.alive() {
			down = append(down, r)
		}
	}
	c.startBusNodes(down...)
}

// startBusNodes starts the named bus nodes at once (a clustered node waits
// for its peers) and waits until each accepts clients. A `herald bus` node
// picks a free client port at its first start; restarts use the same
// ports and data dir, so the services find it again. One `herald bus`
// makes its own NATS identities in its data dir; clustered nodes all use
// the auth.conf of natsConfig.
func (c *cluster) startBusNodes(roles ...string) {
	c.t.Helper()
	clustered := len(c.roles("bus")) > 1
	started := map[string]*proc{}
	for _, r := range roles {
		data := c.dir
		if clustered {
			data = filepath.Join(c.dir, r)
		}
		var args []string
		if c.dep.NATSServer != "" {
			host, port, _ := strings.Cut(c.addr(r), ":")
			args = []string{"-c", c.natsServerConf(), "-js", "-sd", filepath.Join(data, "nats"), "-a", host, "-p", port, "-n", r}
			if clustered {
				args = append(args, "--cluster", "nats://"+c.route[r], "--cluster_name", "herald", "--routes", c.routeURLs("nats"))
			}
		} else {
			args = []string{"bus", "--data", data, "--listen", cmp.Or(c.addr(r), "127.0.0.1:0")}
			if clustered {
				args = append(args, "--name", r, "--cluster", c.route[r], "--cluster-name", "herald", "--routes", c.routeURLs("nats-route"),
					"--nats-auth", c.natsAuthFile())
			} else if len(c.dep.Replicas) > 0 {
				args = append(args, "--query-replicas", strings.Join(c.dep.Replicas, ","))
			}
		}
		started[r] = c.spawn(r, nil, args)
	}
	for _, r := range roles {
		p := started[r]
		re := busAddrRe
		if c.dep.NATSServer != "" {
			re = natsReadyRe
		}
		addr, err := waitAddr(p, re)
		if err != nil {
			c.t.Fatalf("%s did not start: %v\n%s", r, err, p.tail(20))
		}
		if c.dep.NATSServer == "" {
			c.mu.Lock()
			c.addrs[r] = addr
			c.mu.Unlock()
		}
	}
}

// busAddrRe finds the bus's client address in its output.
var busAddrRe = regexp.MustCompile(`clients connect to nats://(\S+)`)

// natsReadyRe finds nats-server's line that it is ready for clients.
var natsReadyRe = regexp.MustCompile(`(Server is ready)`)

// waitJetStreamCluster waits until the bus's JetStream cluster can place a
// stream with three replicas (a meta leader is elected and every peer has
// joined), by creating a small probe stream and deleting it again; until
// then, services would get streams with one replica.
func (c *cluster) waitJetStreamCluster() {
	c.t.Helper()
	err := waitFor(60*time.Second, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "FAULTS_PROBE", Subjects: []string{"faults.probe"},
			Storage: jetstream.MemoryStorage, Replicas: 3})
		if err != nil {
			return err
		}
		return c.js.DeleteStream(ctx, "FAULTS_PROBE")
	})
	if err != nil {
		c.t.Fatalf("the NATS cluster cannot place 3 replicas: %v", err)
	}
}

// startServices starts the named service roles at once, each in its own
// process, and waits until every one answers /readyz. A role's first start
// lets it pick a free port; restarts use the same port.
func (c *cluster) startServices(opts map[string]svcOpts, roles ...string) {
	c.t.Helper()
	started := map[string]*proc{}
	for _, role := range roles {
		name := serviceOf(role)
		o, found := opts[role]
		if !found {
			o = opts[name]
		}
		flags := maps.Clone(c.flags)
		maps.Copy(flags, o.Flags)
		args := []string{"serve", name, "--nats", c.natsURL(), "--data", c.dir,
			"--" + name + "-addr", cmp.Or(c.addr(role), "127.0.0.1:0")}
		if db := c.dep.DB[name]; db != "" {
			args = append(args, "--db", db)
		}
		if r := replicaOf(role); name == "query" && r != "" {
			args = append(args, "--replica", r)
		}
		args = append(args, c.securityFlags(name)...)
		for _, f := range slices.Sorted(maps.Keys(flags)) {
			args = append(args, f, flags[f])
		}
		var env []string
		if o.Failpoints != "" {
			env = append(env, "HERALD_FAILPOINTS="+o.Failpoints)
		}
		started[role] = c.spawn(role, env, args)
	}
	for _, role := range roles {
		if err := c.waitService(started[role], role, serviceOf(role)); err != nil {
			c.t.Fatalf("%s did not get ready: %v\n%s", role, err, started[role].tail(30))
		}
	}
}

// waitService waits until p prints the address of service, keeps it as
// role's, and waits until it answers /readyz.
func (c *cluster) waitService(p *proc, role, service string) error {
	addr, err := waitAddr(p, regexp.MustCompile(`(?m)^\s+\S+\s+`+service+`\s+http://(\S+)$`))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.addrs[role] = addr
	c.mu.Unlock()
	return c.waitReady(p, role)
}

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

// restart starts the named service role again (its previous process must
// have exited) with opts, on the same address and database.
func (c *cluster) restart(role string, opts svcOpts) {
	c.t.Helper()
	c.startServices(map[string]svcOpts{role: opts}, role)
}

// spawn starts one process for role and makes it the live one.
func (c *cluster) spawn(role string, env, args []string) *proc {
	c.t.Helper()
	c.mu.Lock()
	c.starts[role]++
	n := c.starts[role]
	c.mu.Unlock()
	bin := heraldBin
	if serviceOf(role) == "bus" && c.dep.NATSServer != "" {
		bin = c.dep.NATSServer
	}
	p, err := startProc(c.dir, role, n, bin, env, args)
	if err != nil {
		c.t.Fatal(err)
	}
	if bin != heraldBin {
		p.stopSig = syscall.SIGINT // nats-server exits 0 on SIGINT in every version
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

// addr returns the listen address of a role, "" before its first start.
func (c *cluster) addr(role string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[role]
}

// url returns the base URL of a service role.
func (c *cluster) url(role string) string { return "http://" + c.addr(role) }

// waitReady polls the role's /readyz until it answers 200.
func (c *cluster) waitReady(p *proc, role string) error {
	return waitFor(30*time.Second, 100*time.Millisecond, func() error {
		if !p.alive() {
			return errExited
		}
		resp, err := c.http.Get(c.url(role) + "/readyz")
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

// kill9 kills the live process of role with SIGKILL. For a query role or
// an instance of a write service it first reads the counters of the
// lifetime that ends.
func (c *cluster) kill9(role string) {
	c.sampleRole(role)
	killNine(c.proc(role))
}

// stopClean stops the live process of role with SIGTERM and fails the test
// if it does not stop cleanly.
func (c *cluster) stopClean(role string) {
	c.t.Helper()
	c.sampleRole(role)
	if err := c.proc(role).stop(); err != nil {
		c.t.Fatal(err)
	}
}

// stopAll stops every process still running, services first and then the
// bus nodes, and closes the test's connections.
func (c *cluster) stopAll() {
	if c.stopBg != nil {
		c.stopBg()
		c.bg.Wait()
	}
	c.mu.Lock()
	procs := slices.Clone(c.procs)
	c.mu.Unlock()
	stop := func(bus bool) {
		var wg sync.WaitGroup
		for _, p := range procs {
			if (serviceOf(p.role) == "bus") == bus && p.alive() {
				wg.Go(func() {
					if err := p.stop(); err != nil {
						c.t.Errorf("cleanup: %v", err)
					}
				})
			}
		}
		wg.Wait()
	}
	stop(false)
	if c.nc != nil {
		c.nc.Close()
	}
	stop(true)
	for _, db := range c.dbs {
		db.Close()
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
