//go:build cluster

package faults

import (
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// TestSeedScenarioPassesInBothShapes runs the same seed scenario against
// the two shapes of the same code: (a) `herald up shop`, one process with
// the embedded bus and every service on SQLite, and (b) `herald bus` and
// one `herald serve` process per service. Each must converge (the view is
// the fold of the write databases, nothing applied twice) and both must
// give the same answers, ids included.
func TestSeedScenarioPassesInBothShapes(t *testing.T) {
	shapes := []struct {
		name  string
		start func(t *testing.T) *cluster
	}{
		{"one-process", func(t *testing.T) *cluster { return startUp(t, "shape-herald-up") }},
		{"process-per-service", func(t *testing.T) *cluster { return startCluster(t, "shape-herald-serve", nil, nil) }},
	}
	got := map[string]seedAnswers{}
	passed := true
	for _, s := range shapes {
		passed = t.Run(s.name, func(t *testing.T) {
			c := s.start(t)
			l := newLoad(t, c)
			got[s.name] = seedScenario(t, c, l)
			c.finish(l, time.Now(), expectations{}, 0)
		}) && passed
	}
	if !passed {
		return
	}
	a, b := got[shapes[0].name], got[shapes[1].name]
	if a.User != b.User || !slices.Equal(a.Ordered, b.Ordered) || !slices.Equal(a.Left, b.Left) {
		t.Errorf("the shapes answer differently:\n  %s: %+v\n  %s: %+v", shapes[0].name, a, shapes[1].name, b)
	}
	t.Logf("both shapes: user %d's products %v, then %v", a.User, a.Ordered, a.Left)
}

// startUp runs `herald up shop`, every shop service and an embedded bus in
// one process (role "up", which is also the live process of every service
// role), with its SQLite databases and its bus's NATS identities in the
// test's dir and the test's token keys, and connects the test to its bus.
func startUp(t *testing.T, name string) *cluster {
	t.Helper()
	c := newHarness(t, name, nil, deployment{})
	args := []string{"up", "shop", "--data", c.dir, "--nats-listen", "127.0.0.1:0", "--dashboard-addr", "127.0.0.1:0"}
	for _, s := range services {
		args = append(args, "--"+s+"-addr", "127.0.0.1:0")
	}
	for _, f := range slices.Sorted(maps.Keys(c.flags)) {
		args = append(args, f, c.flags[f])
	}
	args = append(args, c.securityFlags("up")...)
	p := c.spawn("up", nil, args)
	addr, err := waitAddr(p, upBusRe)
	if err != nil {
		t.Fatalf("herald up did not start: %v\n%s", err, p.tail(30))
	}
	c.mu.Lock()
	c.addrs["bus"] = addr
	for _, s := range services {
		c.live[s] = p
	}
	c.mu.Unlock()
	for _, s := range services {
		if err := c.waitService(p, s, s); err != nil {
			t.Fatalf("herald up: %s did not get ready: %v\n%s", s, err, p.tail(30))
		}
	}
	c.connect()
	return c
}

// upBusRe finds the embedded bus's client address in herald up's output.
var upBusRe = regexp.MustCompile(`bus at nats://(\S+)`)

// TestOfficialNATSServerCluster runs the scaled-out deployment on a
// three-node cluster of the official nats-server (2.10 or newer, from
// PATH) instead of `herald bus`: stream SHOP gets 3 replicas, the seed
// scenario passes, and after a short load nothing is lost or applied twice
// and both query replicas show the fold of the write databases. Without
// such a nats-server it skips, naming the version it found.
func TestOfficialNATSServerCluster(t *testing.T) {
	bin := officialNATSServer(t)
	c := startDeployment(t, "official-nats-server-cluster", nil, scaledOut(t, bin), nil)
	c.requireReplicas(event.ShopStream, 3)
	c.requireReplicas(hjs.DLQStream, 3)
	l := newLoad(t, c)
	seedScenario(t, c, l)
	l.start()
	time.Sleep(6 * time.Second) // a short load
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)
	c.waitFullyReplicated(event.ShopStream, 3)
}

// officialNATSServer returns the path of nats-server on PATH if it is 2.10
// or newer, and skips the test otherwise, saying what it found.
func officialNATSServer(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nats-server")
	if err != nil {
		t.Skip("skipped: nats-server is not installed (not on PATH); put nats-server 2.10 or newer on PATH to run this test")
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	m := regexp.MustCompile(`v?(\d+\.\d+\.\d+\S*)`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Skipf("skipped: %s --version did not say its version (%v): %q", path, err, out)
	}
	if !versionAtLeast(m[1], 2, 10) {
		t.Skipf("skipped: nats-server %s on PATH (%s) is older than 2.10, which Herald needs (consumers with several filter subjects); put nats-server 2.10 or newer on PATH to run this test", m[1], path)
	}
	t.Logf("nats-server %s at %s", m[1], path)
	return path
}

// versionAtLeast reports whether version v ("2.10.4", "2.11.0-beta.1") is
// at least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	core, _, _ := strings.Cut(v, "-")
	parts := strings.SplitN(core, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
