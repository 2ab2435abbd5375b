//go:build cluster

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/observe"
)

// loadRun is how long the load of a cluster test runs, and killAt when in
// it the fault strikes.
const (
	loadRun = 10 * time.Second
	killAt  = 4 * time.Second
)

// TestClusterSeedScenarioThenLoadWithANATSNodeKilled runs the scaled-out
// deployment (three `herald bus` nodes; users, products and two orders
// instances on PostgreSQL; two query replicas; each its own process, all
// started at once as `docker compose up` does), checks that streams SHOP
// and DLQ have 3 replicas, and runs the seed scenario against it. Then,
// under the seeded load, it kills one NATS node with SIGKILL: the leader of
// stream SHOP if it also leads a consumer, else the leader of a consumer
// (so at least one consumer, and maybe the stream, must fail over),
// whichever services happen to be connected to it (the test says which
// were). The other two elect new leaders and keep storing events. Once they
// do (and at least 3s after the kill) the node is started again on its data
// dir, as an operator or a supervisor would, and catches up, so the stream
// ends fully replicated. Nothing is lost or applied twice, both replicas
// show the fold of the write databases, and the views catch up soon after
// the loss.
func TestClusterSeedScenarioThenLoadWithANATSNodeKilled(t *testing.T) {
	c := startDeployment(t, "cluster-nats-node-kill9", nil, scaledOut(t, ""), nil)
	c.requireReplicas(event.ShopStream, 3)
	c.requireReplicas(hjs.DLQStream, 3)
	l := newLoad(t, c)
	seedScenario(t, c, l)
	l.start()
	start := time.Now()
	time.Sleep(killAt) // let the load run

	streamLeader, leaders := c.streamLeader(event.ShopStream), c.consumerLeaders()
	victim := pickVictim(streamLeader, leaders)
	before := c.storedCount()
	c.markLogs()
	killNine(c.proc(victim))
	down := time.Now()
	t.Logf("killed %s with SIGKILL at %d messages; stream %s was led by %s, the consumers by %v",
		victim, before, event.ShopStream, streamLeader, leaders)
	// With two of three nodes the stream has a quorum: it elects a leader
	// and stores the events the relays keep publishing.
	var leader string
	err := waitFor(20*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		info, err := c.streamInfo(ctx, event.ShopStream)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || info.Cluster.Leader == victim {
			return fmt.Errorf("no new leader yet")
		}
		if info.State.Msgs <= before {
			return fmt.Errorf("leader %s, still %d messages", info.Cluster.Leader, info.State.Msgs)
		}
		leader = info.Cluster.Leader
		return nil
	})
	if err != nil {
		t.Fatalf("with %s dead, stream %s took no new events: %v", victim, event.ShopStream, err)
	}
	t.Logf("%s leads stream %s %s after the kill, and it stores events again", leader, event.ShopStream, time.Since(down).Round(10*time.Millisecond))
	time.Sleep(time.Until(down.Add(3 * time.Second))) // hold the outage
	c.startBusNodes(victim)
	t.Logf("restarted %s on its data dir; clients that were connected to it: %s", victim, c.reconnected())
	time.Sleep(time.Until(start.Add(loadRun)))
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)
	recovered := time.Since(down)
	c.waitFullyReplicated(event.ShopStream, 3)
	t.Logf("orders' consumer events handled by instance: %v; writes refused by status: %v", c.handledBy(), l.failedByStatus())
	// The stream took a new leader within seconds; every consumer must
	// follow soon after, not sit idle while events wait.
	if recovered > nodeLossRecovery {
		t.Errorf("the views caught up only %s after %s died (consumer leaders were %v); want within %s",
			recovered.Round(100*time.Millisecond), victim, leaders, nodeLossRecovery)
	}
	c.traceFirstOrder()
}

// traceFirstOrder runs herald trace, as an operator would against this
// deployment (with the admin's NATS credential and the operator token), on
// the first order's event: committed by orders, on the clustered stream,
// applied by both query replicas, with its spans.
func (c *cluster) traceFirstOrder() {
	t := c.t
	t.Helper()
	b, nc, err := hjs.Dial(c.natsURL(), "faults-trace", hjs.Options{}, c.natsOptions(hjs.AdminIdentity)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first, err := b.Read(ctx, event.ShopStream, []string{event.Subject(event.OrderCreated)}, 0, 1)
	if err != nil || len(first) != 1 {
		t.Fatalf("read the first order event: %v (%d)", err, len(first))
	}
	e, err := event.Parse(first[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"trace", e.ID, "--json", "--nats", c.natsURL(), "--nats-credentials", c.natsCreds(), "--token-file", c.adminTokenFile()}
	for _, role := range []string{"users", "products", "orders-1", "query-a"} {
		args = append(args, "--addr", strings.SplitN(role, "-", 2)[0]+"="+c.addr(role))
	}
	cmd := exec.CommandContext(ctx, heraldBin, args...)
	cmd.Env = cleanEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("herald %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var j journey.Journey
	if err := json.Unmarshal(out, &j); err != nil {
		t.Fatalf("herald trace --json: %v\n%s", err, out)
	}
	outcomes := map[string]string{}
	for _, s := range j.Consumers {
		outcomes[s.Consumer] = s.Outcome
	}
	if j.Committed == nil || j.Committed.Service != "orders" || j.Published == nil || j.Published.Sequence != first[0].Sequence ||
		outcomes["shop-query-a"] != journey.Applied || outcomes["shop-query-b"] != journey.Applied ||
		!slices.ContainsFunc(j.Spans, func(s observe.Span) bool {
			return s.Service == "query" && s.Attr(string(observe.AttrOutcome)) == observe.OutcomeApplied
		}) {
		t.Errorf("herald trace of the first order on the cluster: committed %+v, published %+v, consumers %v, %d spans:\n%s", j.Committed, j.Published, outcomes, len(j.Spans), out)
	}
	t.Logf("herald trace of order event %s: published at %s #%d, consumers %v, %d spans", e.ID, j.Published.Stream, j.Published.Sequence, outcomes, len(j.Spans))
}

// nodeLossRecovery bounds how long after one NATS node of three dies every
// consumer has caught up again: JetStream elects new stream and consumer
// leaders in a few seconds (4 to 9 by default), and a consumer must then
// resume without waiting much longer.
const nodeLossRecovery = 20 * time.Second

// TestClusterOrdersInstanceKilledMidLoad runs the same deployment and kills
// each orders instance in turn with SIGKILL under load; the other one takes
// over its work, and the system converges while the killed one is still
// dead, and again once it is back.
//
// First orders-1 dies at the worst moment for its relay: its
// relay-after-ack failpoint kills it after the bus acknowledged an event
// and before the event's row left the outbox both instances share. The
// relay of orders-2 publishes what orders-1 left there (the relays take
// turns under an advisory lock), and the bus drops the copies of events it
// already holds by their message id.
//
// Then orders-2 hangs (SIGSTOP) for 6s, longer than the 5s ack wait, and is
// killed as a supervisor would: the consumer events it had fetched and not
// acknowledged are redelivered on the durable consumer both instances
// share, and orders-1 handles them.
//
// The load's orders go to live instances only, as behind a load balancer
// that checks health (so writes sent to the hung orders-2 time out:
// unknown). Both instances handled some of orders' consumer events: the
// shared durable spreads them.
func TestClusterOrdersInstanceKilledMidLoad(t *testing.T) {
	c := startDeployment(t, "cluster-orders-instance-kill9", nil, scaledOut(t, ""),
		map[string]svcOpts{"orders-1": {Failpoints: "relay-after-ack=kill@25"}})
	c.requireReplicas(event.ShopStream, 3)
	c.requireReplicas(hjs.DLQStream, 3)
	l := newLoad(t, c)
	seedScenario(t, c, l)
	l.start()

	// orders-1 dies between the bus's ack and the outbox delete.
	o := c.proc("orders-1")
	if !o.waitExit(60 * time.Second) {
		t.Fatal("failpoint relay-after-ack did not kill orders-1 within 60s")
	}
	killed := time.Now()
	if !strings.Contains(o.logText(), "failpoint relay-after-ack: kill -9 at hit 25") {
		t.Fatalf("orders-1 exited, but not at the failpoint (%v)", o.exitErr)
	}
	again := c.ackedButPending(t, "orders")
	t.Logf("orders-1 was killed by its failpoint with SIGKILL; events the bus had acknowledged still in the shared outbox just after: %d", len(again))
	time.Sleep(6 * time.Second) // the load goes on, longer than the 5s ack wait
	l.stop()
	took := c.waitConverged(l, time.Now(), expectations{})
	t.Logf("converged %s after the load with orders-1 dead; orders-2 answered %d of the load's orders and cancellations since the kill",
		took.Round(100*time.Millisecond), l.okSince(c, "orders-2", killed))
	for id, n := range c.storedCopies(t, again) {
		if n != 1 {
			t.Errorf("event %s, acknowledged before orders-1 died and republished by orders-2, is stored %d times, want once", id, n)
		}
	}
	redelivered := c.ordersRedeliveries()
	t.Logf("durable shop-orders redelivered %d events so far", redelivered)
	c.restart("orders-1", svcOpts{})

	// orders-2 hangs past the ack wait holding consumer events, and dies.
	l.resume()
	time.Sleep(3 * time.Second)
	o = c.proc("orders-2")
	c.sampleRole("orders-2")
	// The redelivery shows only if the hung instance holds consumer events
	// when it hangs, which is luck: the server may feed orders-1's waiting
	// pull request all along. So hang it, and if after a second the shared
	// durable has no event unacknowledged (orders-1 settles its own in
	// milliseconds), let it run a moment and hang it again.
	held, try := 0, 1
	for ; held == 0; try++ {
		if try > 15 {
			t.Fatal("orders-2, hung 15 times under load, never held an unacknowledged consumer event")
		}
		if err := pause(o); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if held = c.ackPending("shop-orders"); held == 0 {
			if err := resume(o); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
		}
	}
	t.Logf("hung orders-2 holds %d unacknowledged consumer events (hang %d)", held, try-1)
	time.Sleep(5 * time.Second) // hung, past the ack wait
	killNine(o)
	time.Sleep(2 * time.Second)
	l.stop()
	took = c.waitConverged(l, time.Now(), expectations{})
	more := c.ordersRedeliveries() - redelivered
	t.Logf("converged %s after the load with orders-2 dead; durable shop-orders redelivered %d events of the hung orders-2", took.Round(100*time.Millisecond), more)
	if more == 0 {
		t.Errorf("orders-2 hung for 6s under load, yet the shared durable redelivered none of its events")
	}
	c.restart("orders-2", svcOpts{})

	c.finish(l, time.Now(), expectations{}, len(again))
	handled := c.handledBy()
	t.Logf("orders' consumer events handled by instance: %v; 2xx orders and cancellations by instance: %v; writes refused by status: %v",
		handled, l.okByInstance(c, "orders"), l.failedByStatus())
	for _, role := range c.roles("orders") {
		if handled[role] == 0 {
			t.Errorf("%s handled none of orders' consumer events (%v): the shared durable consumer did not spread them", role, handled)
		}
	}
	if byInstance := l.okByInstance(c, "orders"); len(byInstance) < 2 {
		t.Errorf("the load's orders went to %v only, want both instances", byInstance)
	}
}

// TestReadingAStreamNeverFailsOnANATSCluster reads stream SHOP of a
// three-node NATS cluster 100 times with Bus.Read, as `herald dlq` and the
// gateway's GET /events do: every read returns the whole history.
func TestReadingAStreamNeverFailsOnANATSCluster(t *testing.T) {
	c := newDeployment(t, "cluster-read-stream", nil, deployment{BusNodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.bus.EnsureStream(ctx, event.ShopStream, event.ShopSubjects); err != nil {
		t.Fatal(err)
	}
	const stored = 20
	for i := range stored {
		if err := c.bus.Publish(ctx, event.Subject(event.UserCreated), event.NewID(), []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	failures := map[string]int{}
	for range 100 {
		msgs, err := c.bus.Read(ctx, event.ShopStream, nil, 0, 0)
		switch {
		case err != nil:
			failures[err.Error()]++
		case len(msgs) != stored:
			failures[fmt.Sprintf("%d messages, want %d", len(msgs), stored)]++
		}
	}
	if len(failures) > 0 {
		t.Errorf("of 100 reads of stream %s, these failed: %v", event.ShopStream, failures)
	}
}

// pickVictim returns the NATS node to kill: the stream's leader if it
// leads a consumer too, else the leader of the first consumer (by name)
// that has one, else the stream's leader.
func pickVictim(streamLeader string, consumerLeaders map[string]string) string {
	names := slices.Sorted(maps.Keys(consumerLeaders))
	for _, name := range names {
		if consumerLeaders[name] == streamLeader {
			return streamLeader
		}
	}
	for _, name := range names {
		if l := consumerLeaders[name]; l != "" && l != "?" {
			return l
		}
	}
	return streamLeader
}

// requireReplicas fails the test unless stream has want replicas.
func (c *cluster) requireReplicas(stream string, want int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.streamInfo(ctx, stream)
	if err != nil {
		c.t.Fatal(err)
	}
	if info.Config.Replicas != want {
		c.t.Fatalf("stream %s has %d replicas, want %d", stream, info.Config.Replicas, want)
	}
	leader, peers := "", []string{}
	if info.Cluster != nil {
		leader = info.Cluster.Leader
		for _, p := range info.Cluster.Replicas {
			peers = append(peers, p.Name)
		}
	}
	c.t.Logf("stream %s: %d replicas, leader %s, followers %v", stream, info.Config.Replicas, leader, peers)
}

// waitFullyReplicated waits until stream has a leader and want-1 followers,
// every one online and current, and fails the test if it does not within
// 60s.
func (c *cluster) waitFullyReplicated(stream string, want int) {
	c.t.Helper()
	err := waitFor(60*time.Second, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, err := c.streamInfo(ctx, stream)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return fmt.Errorf("no leader")
		}
		if len(info.Cluster.Replicas) != want-1 {
			return fmt.Errorf("%d followers", len(info.Cluster.Replicas))
		}
		for _, p := range info.Cluster.Replicas {
			if p.Offline || !p.Current {
				return fmt.Errorf("follower %s offline=%v current=%v lag=%d", p.Name, p.Offline, p.Current, p.Lag)
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatalf("stream %s is not fully replicated again: %v", stream, err)
	}
}

// consumerLeaders returns the bus node that leads each durable consumer of
// stream SHOP.
func (c *cluster) consumerLeaders() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]string{}
	names := []string{"shop-orders"}
	for _, role := range c.roles("query") {
		names = append(names, consumerOf(role))
	}
	for _, name := range names {
		out[name] = "?"
		if info, err := c.consumerState(ctx, name); err == nil && info.Cluster != nil {
			out[name] = info.Cluster.Leader
		}
	}
	return out
}

// failedByStatus counts the load's failed writes by HTTP status (0: the
// connection was refused).
func (l *load) failedByStatus() map[int]int {
	n := map[int]int{}
	for _, w := range l.all() {
		if w.Outcome == failed {
			n[w.Status]++
		}
	}
	return n
}

// streamLeader returns the bus node that leads stream.
func (c *cluster) streamLeader(stream string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := c.streamInfo(ctx, stream)
	if err != nil {
		c.t.Fatal(err)
	}
	if info.Cluster == nil || c.proc(info.Cluster.Leader) == nil {
		c.t.Fatalf("stream %s has no leader among the bus nodes (%+v)", stream, info.Cluster)
	}
	return info.Cluster.Leader
}

// storedCount is how many messages stream SHOP holds now.
func (c *cluster) storedCount() uint64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.streamState(ctx, event.ShopStream)
	if err != nil {
		c.t.Fatal(err)
	}
	return st.Msgs
}

// markLogs notes how long every live service's log is, so reconnected can
// look at what each logged since.
func (c *cluster) markLogs() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marks = map[*proc]int{}
	for _, p := range c.live {
		if serviceOf(p.role) != "bus" {
			c.marks[p] = len(p.logText())
		}
	}
}

// reconnected names the service roles that logged a NATS reconnection
// since markLogs: the ones that were connected to a node that went away.
func (c *cluster) reconnected() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var roles []string
	for p, n := range c.marks {
		if text := p.logText(); len(text) > n && strings.Contains(text[n:], "nats reconnected") {
			roles = append(roles, p.role)
		}
	}
	slices.Sort(roles)
	if len(roles) == 0 {
		return "none"
	}
	return strings.Join(roles, ", ")
}

// okSince counts the load's 2xx writes that role answered after since.
func (l *load) okSince(c *cluster, role string, since time.Time) int {
	n := 0
	for _, w := range l.all() {
		if w.Outcome == ok && w.Base == c.url(role) && w.Start.After(since) {
			n++
		}
	}
	return n
}

// ordersRedeliveries is how many times the durable consumer shop-orders
// delivered an event again (after an ack wait ran out, or a failure):
// every delivery takes a consumer sequence number, and each of the events
// it consumes, one per user and product, was delivered at least once. Call
// it once the cluster has drained.
func (c *cluster) ordersRedeliveries() int {
	c.t.Helper()
	info, err := c.consumerInfo("shop-orders")
	if err != nil {
		c.t.Fatal(err)
	}
	ws, err := c.readWriteSide()
	if err != nil {
		c.t.Fatal(err)
	}
	return int(info.Delivered.Consumer) - len(ws.users) - len(ws.products)
}

// ackPending returns how many events durable consumer name of stream SHOP
// has delivered and not yet had acknowledged.
func (c *cluster) ackPending(name string) int {
	c.t.Helper()
	info, err := c.consumerInfo(name)
	if err != nil {
		c.t.Fatal(err)
	}
	return info.NumAckPending
}

// consumerInfo asks the bus about a durable consumer of stream SHOP.
func (c *cluster) consumerInfo(name string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.consumerState(ctx, name)
}

// okByInstance counts the load's 2xx writes to service by the role that
// answered them.
func (l *load) okByInstance(c *cluster, service string) map[string]int {
	byAddr := map[string]string{}
	for _, role := range c.roles(service) {
		byAddr[c.url(role)] = role
	}
	n := map[string]int{}
	for _, w := range l.all() {
		if role, found := byAddr[w.Base]; found && w.Outcome == ok {
			n[role]++
		}
	}
	return n
}
