package jetstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/bus"
)

// testIdentities are a small system: orders owns shop.order.created and
// consumes shop.user.created with durable shop-orders; query consumes both
// with shop-query.
var testIdentities = []Identity{
	{Name: AdminIdentity, Admin: true},
	{Name: "orders", Stream: "SHOP", Publish: []string{"shop.order.created"}, Durables: []string{"shop-orders"}, ReadStream: true},
	{Name: "query", Stream: "SHOP", Durables: []string{"shop-query"}, ReadStream: true},
}

// startSecuredServer starts an embedded server that lets in only
// testIdentities, and returns it with the credentials dir.
func startSecuredServer(t *testing.T) (*Server, string) {
	t.Helper()
	creds := filepath.Join(t.TempDir(), "creds")
	conf, err := WriteAuth(creds, testIdentities)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := StartServer(ServerConfig{Dir: t.TempDir(), Listen: "127.0.0.1:0", Auth: conf})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv, creds
}

// connectAs connects to srv over TCP as the identity name from creds.
func connectAs(t *testing.T, srv *Server, creds, name string) (*Bus, *nats.Conn) {
	t.Helper()
	c, ok := InDir(creds, name)
	if !ok {
		t.Fatalf("no credentials for %s in %s", name, creds)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.Name(name), nats.Timeout(2*time.Second))...)
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	b, err := New(nc, Options{VerifyStreams: name != AdminIdentity})
	if err != nil {
		t.Fatal(err)
	}
	return b, nc
}

func TestWriteAuthKeepsSeedsAndRestrictsTheirMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	conf, err := WriteAuth(dir, testIdentities)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile(filepath.Join(dir, "orders.nk"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"admin.nk", "orders.nk", "query.nk", AuthFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if _, err := WriteAuth(dir, testIdentities); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "orders.nk"))
	if string(again) != string(seed) {
		t.Error("a second WriteAuth replaced the orders seed; credentials must survive regeneration")
	}
	text, _ := os.ReadFile(conf)
	if strings.Contains(string(text), strings.TrimSpace(string(seed))) {
		t.Error("auth.conf contains a seed; it must hold public keys only")
	}
}

func TestAnonymousConnectionIsRefused(t *testing.T) {
	srv, _ := startSecuredServer(t)
	nc, err := nats.Connect(srv.ClientURL(), nats.Timeout(2*time.Second))
	if err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected to a server with Herald's identities")
	}
	if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous connect: %v, want an authorization error", err)
	}
}

func TestIdentityPublishesOnlyItsOwnEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, creds := startSecuredServer(t)
	admin, _ := connectAs(t, srv, creds, AdminIdentity)
	if err := admin.EnsureStream(ctx, "SHOP", "shop.>"); err != nil {
		t.Fatalf("admin ensure stream: %v", err)
	}
	orders, _ := connectAs(t, srv, creds, "orders")
	query, _ := connectAs(t, srv, creds, "query")

	if err := orders.Publish(ctx, "shop.order.created", "e1", []byte(`{}`)); err != nil {
		t.Fatalf("orders publishing its own event: %v", err)
	}
	for _, forge := range []struct {
		who     *Bus
		name    string
		subject string
	}{
		{orders, "orders", "shop.user.created"},
		{query, "query", "shop.order.created"},
		{orders, "orders", "shop.redrive.shop-query"},
	} {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := forge.who.Publish(pctx, forge.subject, "forged-"+forge.name, []byte(`{}`))
		pcancel()
		if !errors.Is(err, ErrDenied) {
			t.Errorf("%s publishing on %s: %v, want a refusal (ErrDenied); only its owner may", forge.name, forge.subject, err)
		}
	}
	last, err := admin.LastSeq(ctx, "SHOP")
	if err != nil {
		t.Fatal(err)
	}
	if last != 1 {
		t.Fatalf("the stream holds %d events, want only orders' own 1", last)
	}
	// And no service may create or change a stream.
	if err := query.EnsureStream(ctx, "SHOP", "shop.>"); err != nil {
		t.Fatalf("query verifying the existing stream: %v", err)
	}
	if err := query.EnsureStream(ctx, "EVIL", "evil.>"); err == nil {
		t.Fatal("query created a stream")
	}
}

func TestIdentityConsumesOnlyWithItsOwnDurable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, creds := startSecuredServer(t)
	admin, _ := connectAs(t, srv, creds, AdminIdentity)
	if err := admin.EnsureStream(ctx, "SHOP", "shop.>"); err != nil {
		t.Fatal(err)
	}
	orders, _ := connectAs(t, srv, creds, "orders")
	if err := orders.Publish(ctx, "shop.order.created", "e1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	query, _ := connectAs(t, srv, creds, "query")
	got := make(chan string, 1)
	sub, err := query.Subscribe(ctx, bus.Consumer{Name: "shop-query", Stream: "SHOP", Subjects: []string{"shop.order.created"}},
		func(_ context.Context, m bus.Message) error {
			select {
			case got <- m.ID:
			default:
			}
			return nil
		})
	if err != nil {
		t.Fatalf("query subscribing with its own durable: %v", err)
	}
	defer sub.Stop(ctx)
	select {
	case id := <-got:
		if id != "e1" {
			t.Fatalf("query received %q, want e1", id)
		}
	case <-ctx.Done():
		t.Fatal("query's own consumer received nothing")
	}
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	if _, err := query.Subscribe(sctx, bus.Consumer{Name: "shop-orders", Stream: "SHOP", Subjects: []string{"shop.order.created"}},
		func(context.Context, bus.Message) error { return nil }); err == nil {
		t.Fatal("query subscribed with orders' durable consumer")
	}
}

// A service may not create streams: it waits a moment for the admin's to
// exist (in a cluster, one just created can be unknown for a moment to the
// server asked), then says which is missing and how to create it.
func TestAServiceWaitsForTheAdminsStreamsThenSaysWhichIsMissing(t *testing.T) {
	srv, creds := startSecuredServer(t)
	admin, _ := connectAs(t, srv, creds, AdminIdentity)
	query, _ := connectAs(t, srv, creds, "query")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	old := streamAppears
	streamAppears = 300 * time.Millisecond
	t.Cleanup(func() { streamAppears = old })
	start := time.Now()
	err := query.EnsureStream(ctx, "SHOP", "shop.>")
	if err == nil || !strings.Contains(err.Error(), "stream SHOP does not exist, and this identity may not create it") {
		t.Fatalf("EnsureStream with no streams: %v, want SHOP missing", err)
	}
	if waited := time.Since(start); waited < streamAppears {
		t.Errorf("said SHOP was missing after %s, before waiting %s for it", waited, streamAppears)
	}

	// The admin creates the streams while the service waits for them.
	streamAppears = 20 * time.Second
	created := make(chan error, 1)
	go func() {
		// The streams appear once the service is already looking for them.
		time.Sleep(500 * time.Millisecond)
		created <- admin.EnsureStream(ctx, "SHOP", "shop.>")
	}()
	if err := query.EnsureStream(ctx, "SHOP", "shop.>"); err != nil {
		t.Fatalf("EnsureStream while the admin creates the streams: %v", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
}
