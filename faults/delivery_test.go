//go:build faults

package faults

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// TestDuplicatedAndReorderedDeliveryGiveTheSameView republishes every event
// of stream SHOP with a fresh message id (so the bus cannot drop the copies),
// which also delivers older product versions after newer ones, and then a
// new event carrying an old product.updated version. The view stays exactly
// as it was, and the query service absorbs one duplicate per republished
// event.
func TestDuplicatedAndReorderedDeliveryGiveTheSameView(t *testing.T) {
	c := startCluster(t, "duplicate-reorder", nil, nil)
	l := startLoad(t, c)
	time.Sleep(10 * time.Second)
	l.stop()
	// Two more updates of the first product, so it has an update older than
	// its newest one.
	for _, title := range []string{"first again", "first at last"} {
		l.record(l.send(opUpdate, "PUT", fmt.Sprintf("%s/products/%d", c.url("products"), firstProduct(l)), map[string]string{"title": title}))
	}
	c.waitConverged(l, time.Now(), expectations{})
	before := c.view(t)
	c.sampleQuery()
	dupBefore := c.duplicates()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	msgs, err := c.bus.Read(ctx, event.ShopStream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := c.bus.Publish(ctx, m.Subject, event.NewID(), m.Data); err != nil {
			t.Fatal(err)
		}
	}
	stale := staleUpdate(t, msgs, firstProduct(l))
	if err := c.bus.Publish(ctx, event.Subject(stale.Type), stale.ID, mustEncode(t, stale)); err != nil {
		t.Fatal(err)
	}
	since := time.Now()
	c.finish(l, since, expectations{Injected: len(msgs) + 1, NewEvents: 1, Applied: 1}, 0)
	after := c.view(t)
	if !maps.Equal(before.products, after.products) || !maps.Equal(before.lines, after.lines) || !maps.Equal(before.users, after.users) {
		t.Errorf("the view changed after duplicated and reordered delivery")
	}
	if got := c.duplicates() - dupBefore; got != len(msgs) {
		t.Errorf("query absorbed %d duplicates, want %d (one per republished event)", got, len(msgs))
	}
}

// firstProduct is the id of the first product the load created.
func firstProduct(l *load) int64 {
	for _, w := range l.all() {
		if w.Kind == opProduct && w.Outcome == ok {
			return w.ID
		}
	}
	return 0
}

// staleUpdate returns a new event (fresh id) with the content of product
// id's oldest product.updated event in msgs: a version older than the
// product's current one, arriving last.
func staleUpdate(t *testing.T, msgs []hjs.Stored, id int64) event.Envelope {
	t.Helper()
	for _, m := range msgs {
		e, err := event.Parse(m.Data)
		if err == nil && e.Type == event.ProductUpdatedV2 && e.Subject == fmt.Sprint(id) {
			e.ID = event.NewID()
			return e
		}
	}
	t.Fatalf("no product.updated event for product %d", id)
	return event.Envelope{}
}

func mustEncode(t *testing.T, e event.Envelope) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// view reads the query service's read model.
func (c *cluster) view(t *testing.T) readSide {
	t.Helper()
	rs, err := readQuerySide(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestPoisonEventsAreDeadLetteredAndTheRestFlows publishes three poison
// events among the load: undecodable JSON, a well-formed event of an unknown
// type (shop.product.created.v9) and a valid event whose handling panics
// (failpoint handler=panic-if:PANIC-ME in the query service). Each is
// dead-lettered after exactly --max-deliver=3 attempts, the query service
// survives the panics, and the events after them keep flowing.
func TestPoisonEventsAreDeadLetteredAndTheRestFlows(t *testing.T) {
	c := startCluster(t, "poison", map[string]string{"--max-deliver": "3"},
		map[string]svcOpts{"query": {Failpoints: "handler=panic-if:PANIC-ME"}})
	l := startLoad(t, c)
	time.Sleep(4 * time.Second)
	q := c.proc("query")
	v9, err := event.New("/faults", "shop.product.created.v9", "999998", 1, event.ProductData{ID: 999998, Title: "from the future", Image: "v9.png"})
	if err != nil {
		t.Fatal(err)
	}
	panics, err := event.New("/faults", event.ProductCreated, "999999", 1, event.ProductData{ID: 999999, Title: "PANIC-ME hat", Image: "p.png"})
	if err != nil {
		t.Fatal(err)
	}
	poison := [][]byte{[]byte(`{"specversion":"1.0","id":`), mustEncode(t, v9), mustEncode(t, panics)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, data := range poison {
		if err := c.bus.Publish(ctx, event.Subject(event.ProductCreated), fmt.Sprintf("poison-%d-%s", i, event.NewID()), data); err != nil {
			t.Fatal(err)
		}
	}
	poisoned := time.Now()
	time.Sleep(8 * time.Second) // the load goes on past the retries
	l.stop()
	c.finish(l, time.Now(), expectations{Injected: 3, NewEvents: 2, Applied: 0, Absent: []int64{999998, 999999},
		// orders consumes shop.product.created too, without the failpoint:
		// it refuses the first two and applies the third.
		OrdersApplied: 1, DeadLetters: map[string]int{"shop-query": 3, "shop-orders": 2}}, 0)

	dls, err := c.bus.DeadLetters(ctx, "shop-query")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != len(poison) {
		t.Fatalf("shop-query dead-lettered %d messages, want %d", len(dls), len(poison))
	}
	for _, d := range dls {
		i := slices.IndexFunc(poison, func(p []byte) bool { return bytes.Equal(p, d.Data) })
		if i < 0 || d.Attempts != 3 || d.Subject != event.Subject(event.ProductCreated) {
			t.Errorf("dead letter %.60q: poison %d, attempts=%d subject=%s; want one of the poison events after 3 attempts", d.Data, i, d.Attempts, d.Subject)
		}
		if i == 2 && !strings.Contains(d.Error, "panicked") {
			t.Errorf("the PANIC-ME event was dead-lettered with %q, want the recovered panic", d.Error)
		}
		t.Logf("dead letter: poison %d, stream seq %d, %d attempts: %.100s", i, d.Sequence, d.Attempts, d.Error)
	}
	if c.proc("query") != q || !q.alive() {
		t.Errorf("the query service did not survive the panics")
	}
	if n := l.okBetween(poisoned, time.Now()); n == 0 {
		t.Errorf("no write succeeded after the poison events")
	}
}
