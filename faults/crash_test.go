//go:build faults

package faults

import (
	"strings"
	"testing"
	"time"
)

// TestKill9UsersUnderLoad, TestKill9ProductsUnderLoad and
// TestKill9OrdersUnderLoad kill a write service with SIGKILL in the middle of
// the load, keep it down for 2s and start it again: a write answered 2xx
// before the crash is committed with its event, so nothing is lost.
func TestKill9UsersUnderLoad(t *testing.T)    { killServiceUnderLoad(t, "users") }
func TestKill9ProductsUnderLoad(t *testing.T) { killServiceUnderLoad(t, "products") }
func TestKill9OrdersUnderLoad(t *testing.T)   { killServiceUnderLoad(t, "orders") }

func killServiceUnderLoad(t *testing.T, svc string) {
	c := startCluster(t, "kill9-"+svc, nil, nil)
	l := startLoad(t, c)
	time.Sleep(5 * time.Second) // let the load run
	c.kill9(svc)
	time.Sleep(2 * time.Second) // hold the outage
	c.restart(svc, svcOpts{})
	time.Sleep(5 * time.Second)
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)
}

// TestKill9QueryBeforeCommit kills the query service (a failpoint sends it
// SIGKILL) after it applied an event but before its transaction committed:
// the event is redelivered to the restarted service and applied once.
func TestKill9QueryBeforeCommit(t *testing.T) {
	killQueryAtFailpoint(t, "consumer-before-commit", false)
}

// TestKill9QueryAfterCommit kills the query service after its transaction
// committed but before the ack: the redelivered event is recognised by its id
// and not applied again (at least one duplicate absorbed).
func TestKill9QueryAfterCommit(t *testing.T) {
	killQueryAtFailpoint(t, "consumer-after-commit", true)
}

func killQueryAtFailpoint(t *testing.T, point string, wantDuplicate bool) {
	c := startCluster(t, "kill9-query-"+strings.TrimPrefix(point, "consumer-"), nil,
		map[string]svcOpts{"query": {Failpoints: point + "=kill@150"}})
	l := startLoad(t, c)
	q := c.proc("query")
	if !q.waitExit(90 * time.Second) {
		t.Fatalf("failpoint %s did not kill the query service", point)
	}
	if !strings.Contains(q.logText(), "failpoint "+point+": kill -9 at hit 150") {
		t.Fatalf("the query service exited, but not at the failpoint (%v)", q.exitErr)
	}
	c.restart("query", svcOpts{})
	time.Sleep(4 * time.Second)
	l.stop()
	f := c.finish(l, time.Now(), expectations{}, 0)
	if wantDuplicate && f.Duplicates < 1 {
		t.Errorf("the event committed before the crash was redelivered, but no duplicate was absorbed")
	}
}

// TestSigstopQueryLongerThanAckWait freezes the query service (SIGSTOP) for
// 5s, longer than its 2s ack wait, so the bus redelivers what it was
// handling; after SIGCONT both copies arrive and the view still converges.
func TestSigstopQueryLongerThanAckWait(t *testing.T) {
	c := startCluster(t, "sigstop-query", nil, map[string]svcOpts{"query": {Flags: map[string]string{"--ack-wait": "2s"}}})
	l := startLoad(t, c)
	time.Sleep(4 * time.Second)
	q := c.proc("query")
	c.sampleQuery()
	if err := pause(q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // hold the freeze past the ack wait
	if err := resume(q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)
	if c.proc("query") != q || !q.alive() {
		t.Errorf("the query service did not survive SIGSTOP/SIGCONT")
	}
}

// TestBusSigtermUnderLoad and TestBusKill9UnderLoad stop the bus at one third
// and at one half of a 24s run, for 3s each time, and start it again on the
// same port and data dir. Writes keep succeeding during the outages (their
// events wait in the outboxes) and are all delivered afterwards.
func TestBusSigtermUnderLoad(t *testing.T) { busOutagesUnderLoad(t, "sigterm") }
func TestBusKill9UnderLoad(t *testing.T)   { busOutagesUnderLoad(t, "kill9") }

func busOutagesUnderLoad(t *testing.T, how string) {
	c := startCluster(t, "bus-"+how, nil, nil)
	l := startLoad(t, c)
	const run = 24 * time.Second
	start := time.Now()
	okWhileDown := 0
	for _, at := range []time.Duration{run / 3, run / 2} {
		time.Sleep(time.Until(start.Add(at)))
		down := time.Now()
		if how == "kill9" {
			killNine(c.proc("bus"))
		} else if err := c.proc("bus").stop(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // hold the outage
		okWhileDown += l.okBetween(down, time.Now())
		c.startBus()
	}
	time.Sleep(time.Until(start.Add(run)))
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)
	if okWhileDown == 0 {
		t.Errorf("no write succeeded while the bus was down; they should wait in the outbox")
	}
	t.Logf("%d writes answered 2xx while the bus was down", okWhileDown)
}

// TestRelayCrashAfterAckBeforeDelete kills the orders service (failpoint
// relay-after-ack) after the bus acknowledged an event but before its outbox
// row was deleted. The restarted relay publishes those events again; the
// bus drops the copies by their Nats-Msg-Id, so each is stored once and
// nothing is applied twice.
func TestRelayCrashAfterAckBeforeDelete(t *testing.T) {
	c := startCluster(t, "relay-after-ack", nil, map[string]svcOpts{"orders": {Failpoints: "relay-after-ack=kill@60"}})
	l := startLoad(t, c)
	o := c.proc("orders")
	if !o.waitExit(90 * time.Second) {
		t.Fatal("failpoint relay-after-ack did not kill the orders service")
	}
	again := c.ackedButPending(t, "orders")
	if len(again) == 0 {
		t.Fatal("after the crash, no outbox row holds an event the bus already acknowledged")
	}
	c.restart("orders", svcOpts{})
	time.Sleep(4 * time.Second)
	l.stop()
	c.finish(l, time.Now(), expectations{}, len(again))
	for id, n := range c.storedCopies(t, again) {
		if n != 1 {
			t.Errorf("event %s is stored %d times in the stream, want once", id, n)
		}
	}
}
