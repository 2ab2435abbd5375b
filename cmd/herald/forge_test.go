package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// TestForgedEventsAreRefusedByTheBus is the attack of issue 16: a program
// on the same machine publishes a forged shop.order.created onto the
// embedded bus. With no credentials it cannot connect; with another
// service's credentials (query's, users') the bus refuses the publish;
// nothing is stored and the query's view does not change. The same event
// published as orders, its owner, is stored and shown: the forgery would
// have worked if the bus had let it through.
func TestForgedEventsAreRefusedByTheBus(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir)
	tok := operatorToken(t, dir)
	url := m.server.ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	userID := post(t, tok, m.Service("users").URL()+"/users", map[string]any{"name": "Ann", "email": "ann@example.com", "password": "correct horse battery"})
	productID := post(t, tok, m.Service("products").URL()+"/products", map[string]any{"title": "Kettle", "image": "https://img.example/k.png"})
	forged, err := event.New("/shop/orders", event.OrderCreated, "999", 1, event.OrderData{ID: 999, UserID: userID, ProductID: productID})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := forged.Encode()
	if err != nil {
		t.Fatal(err)
	}
	subject := event.OrderCreatedDef.Subject()
	var before uint64
	waitFor(t, func() bool { before, err = m.bus.LastSeq(ctx, "SHOP"); return err == nil && before == 2 },
		func() string { return "the user's and the product's events on the stream" })
	view := fmt.Sprintf("%s/users/%d/products", m.Service("query").URL(), userID)
	waitBodyAs(t, tok, view, "[]")

	if nc, err := nats.Connect(url, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to the embedded bus")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connect: %v, want an authorization violation", err)
	}
	for _, who := range []string{"query", "users", "products"} {
		b := dialAs(t, url, natsSecrets(dir), who)
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := b.Publish(pctx, subject, forged.ID, payload)
		pcancel()
		if !errors.Is(err, jetstream.ErrDenied) {
			t.Errorf("%s forging %s: %v, want a refusal", who, subject, err)
		}
	}
	after, err := m.bus.LastSeq(ctx, "SHOP")
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the stream grew from %d to %d events: a forged event was stored", before, after)
	}
	if _, got, _ := callAs(tok, http.MethodGet, view, nil); strings.TrimSpace(string(got)) != "[]" {
		t.Fatalf("after the refused forgeries the query shows %s for user %d, want []", got, userID)
	}

	// The control: orders' own identity may publish it, and the query
	// shows it, so the refusals above are what kept it out.
	owner := dialAs(t, url, natsSecrets(dir), "orders")
	if err := owner.Publish(ctx, subject, forged.ID, payload); err != nil {
		t.Fatalf("orders publishing its own event type: %v", err)
	}
	waitBodyAs(t, tok, view, fmt.Sprintf(`[{"id":%d,"title":"Kettle","image":"https://img.example/k.png","price":0,"currency":"EUR"}]`, productID))
}

// dialAs connects to the bus at url as the identity name of creds.
func dialAs(t *testing.T, url, creds, name string) *jetstream.Bus {
	t.Helper()
	c, ok := jetstream.InDir(creds, name)
	if !ok {
		t.Fatalf("no credentials for %s in %s", name, creds)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	b, nc, err := jetstream.Dial(url, "forger as "+name, jetstream.Options{}, opts...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return b
}

// TestServeWithoutCredentialsSaysWhatToGive: herald serve against a bus
// that refuses anonymous clients fails at once, saying which flags give
// it credentials.
func TestServeWithoutCredentialsSaysWhatToGive(t *testing.T) {
	m := upOnTCP(t, t.TempDir(), "shop")
	s := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	err := s.Serve(context.Background(), serveCmd{serviceFlags: testFlags(t.TempDir()), Services: []string{"query"}, NATS: m.server.ClientURL()})
	if err == nil {
		s.Close(context.Background())
		t.Fatal("herald serve started without credentials on a bus that wants them")
	}
	if !strings.Contains(err.Error(), "Authorization Violation") || !strings.Contains(err.Error(), "--nats-credentials") {
		t.Fatalf("serve: %v; want the refusal and the flags that give credentials", err)
	}
}
