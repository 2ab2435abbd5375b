//go:build cluster

package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// TestClusterRefusesForgedEvents is the attack of issue 16 on the
// three-node cluster, whose nodes share the one auth.conf of herald
// nats-config: a program that can reach the bus publishes a forged
// shop.order.created for a signed-in user. Without credentials no node
// lets it connect; with the query service's credentials, or the users
// service's, the bus refuses the publish (jetstream.ErrDenied); the stream
// SHOP does not grow and neither query replica's answer to the user (read
// with the user's own token) changes. As the control, the same event
// published as orders, its owner, is stored and both replicas show it: the
// forgery would have worked had the bus let it through.
func TestClusterRefusesForgedEvents(t *testing.T) {
	c := startDeployment(t, "cluster-forged-events", nil, deployment{BusNodes: 3, Replicas: []string{"a", "b"}}, nil)
	c.requireReplicas(event.ShopStream, 3)
	l := newLoad(t, c)
	const email, password = "bea@example.com", "Bea's long password"
	if w := l.send(opUser, "POST", l.url("users")+"/users", map[string]string{"name": "Bea", "email": email, "password": password}); w.Outcome != ok {
		t.Fatalf("POST /users answered %d (%s)", w.Status, w.Detail)
	}
	bea, err := l.signIn(l.url("users"), email, password)
	if err != nil {
		t.Fatalf("Bea signs in: %v", err)
	}
	kettle := l.send(opProduct, "POST", l.url("products")+"/products", map[string]string{"title": "kettle", "image": "kettle.png"})
	if kettle.Outcome != ok {
		t.Fatalf("POST /products answered %d (%s)", kettle.Status, kettle.Detail)
	}
	// Both events are stored and applied: Bea has ordered nothing.
	prev := ^uint64(0)
	if err := waitFor(seedWait, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return c.drained(ctx, &prev)
	}); err != nil {
		t.Fatalf("the sign-up and the product did not settle: %v", err)
	}
	c.waitAnswer(t, bea, []shown{})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := c.lastSeq(ctx)
	forged, err := event.New("/shop/orders", event.OrderCreated, "999999", 1, event.OrderData{ID: 999999, UserID: bea.UserID, ProductID: kettle.ID})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := forged.Encode()
	if err != nil {
		t.Fatal(err)
	}
	subject := event.Subject(event.OrderCreated)

	for _, node := range c.roles("bus") {
		nc, err := nats.Connect("nats://"+c.addr(node), nats.Name("forger without credentials"), nats.Timeout(5*time.Second))
		if err == nil {
			nc.Close()
			t.Errorf("%s let a client without credentials connect", node)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("connecting to %s without credentials: %v, want an authorization violation", node, err)
		}
	}
	for _, who := range []string{"query", "users"} {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.dialAs(who).Publish(pctx, subject, forged.ID, payload)
		pcancel()
		if !errors.Is(err, hjs.ErrDenied) {
			t.Errorf("publishing %s as %s: %v, want a refusal (jetstream.ErrDenied)", subject, who, err)
			continue
		}
		t.Logf("as %s: %v", who, err)
	}
	if after := c.lastSeq(ctx); after != before {
		t.Fatalf("stream %s grew from sequence %d to %d: a forged event was stored", event.ShopStream, before, after)
	}
	for _, role := range c.roles("query") {
		if got, err := c.answer(role, bea.UserID, bea.Token); err != nil || len(got) != 0 {
			t.Errorf("after the refused forgeries %s answers Bea's products with %v (%v), want []", role, got, err)
		}
	}

	// The control: as orders, the same event is stored and shown.
	seq, err := c.dialAs("orders").PublishHeader(ctx, subject, forged.ID, nil, payload)
	if err != nil {
		t.Fatalf("publishing %s as orders, its owner: %v", subject, err)
	}
	if seq != before+1 {
		t.Errorf("orders' event was stored at sequence %d, want %d", seq, before+1)
	}
	c.waitAnswer(t, bea, []shown{{kettle.ID, "kettle", "kettle.png"}})
	t.Logf("stream %s stayed at sequence %d through the refused forgeries; orders' own publish was stored at %d and shown by %v",
		event.ShopStream, before, seq, c.roles("query"))
}

// lastSeq is the sequence of the last message of stream SHOP.
func (c *cluster) lastSeq(ctx context.Context) uint64 {
	c.t.Helper()
	st, err := c.streamState(ctx, event.ShopStream)
	if err != nil {
		c.t.Fatal(err)
	}
	return st.LastSeq
}
