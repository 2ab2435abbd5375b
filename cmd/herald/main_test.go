package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/shop/query"
)

// testFlags are the service flags with every port random.
func testFlags(dir string) serviceFlags {
	return serviceFlags{
		Data:        dir,
		Addr:        randomAddrs(),
		BannedWords: []string{"orange"}, PushAllow: []string{"loopback"}, PushTimeout: 5 * time.Second, PushMaxDeliver: 5,
		PushBackoff: []time.Duration{50 * time.Millisecond},
		MaxDeliver:  3, AckWait: 5 * time.Second, StopTimeout: 10 * time.Second,
		Tracing: true, TraceRing: 10_000, MaxWait: 10 * time.Second, // the defaults
		WriteRate: 100, SignInRate: 1, MaxBody: 1 << 20, authFlags: authFlags{TokenTTL: 15 * time.Minute},
	}
}

// randomAddrs puts every service of the catalogue on a random loopback port.
func randomAddrs() map[string]string {
	addrs := map[string]string{}
	for _, name := range apps(serviceFlags{}).Names() {
		addrs[name] = "127.0.0.1:0"
	}
	return addrs
}

func up(t *testing.T, dir string) *Main {
	t.Helper()
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: testFlags(dir)}); err != nil {
		t.Fatal(err)
	}
	return m
}

// upOnTCP runs herald up with the data dir dir and the bus listening on a
// random loopback port (as a person's other processes reach it), the
// targets named (all if none), and stops it when the test ends.
func upOnTCP(t *testing.T, dir string, targets ...string) *Main {
	t.Helper()
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: testFlags(dir), Targets: targets, NatsListen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeMain(t, m) })
	return m
}

func closeMain(t *testing.T, m *Main) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// operatorToken returns the operator token herald up or herald serve
// wrote to the data dir dir.
func operatorToken(t *testing.T, dir string) string {
	t.Helper()
	tok, err := readToken(adminTokenFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// post POSTs body to url as tok (none if ""), and returns the id of what
// it created.
func post(t *testing.T, tok, url string, body any) int64 {
	t.Helper()
	raw, _ := json.Marshal(body)
	var out struct{ ID int64 }
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			return out.ID
		}
		// 422 while orders has not yet heard of the user or product.
		if resp.StatusCode != http.StatusUnprocessableEntity || time.Now().After(deadline) {
			t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func waitBody(t *testing.T, url, want string) {
	t.Helper()
	waitBodyAs(t, "", url, want)
}

// waitBodyAs waits until GET url, as tok (none if ""), answers want.
func waitBodyAs(t *testing.T, tok, url, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got = strings.TrimSpace(string(b)); got == want {
				return
			}
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	t.Fatalf("GET %s = %s, want %s", url, got, want)
}

func TestUpRunsTheShopAndRestartsWhereItStopped(t *testing.T) {
	dir := t.TempDir()
	m := up(t, dir)
	url := func(name string) string { return m.Service(name).URL() }
	tok := operatorToken(t, dir)
	user := post(t, tok, url("users")+"/users", map[string]string{"name": "One", "email": "one@example.com", "password": "correct horse battery"})
	pants := post(t, tok, url("products")+"/products", map[string]string{"title": "pants", "image": "pants.jpeg"})
	post(t, tok, url("orders")+"/orders", map[string]int64{"userId": user, "productId": pants})
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", url("query"), user), `[{"id":1,"title":"pants","image":"pants.jpeg","price":0,"currency":"EUR"}]`)
	for _, name := range []string{"users", "products", "orders", "query"} {
		waitBody(t, url(name)+"/readyz", `{"status":"ready"}`)
	}
	closeMain(t, m)

	m = up(t, dir) // the same data dir: everything is still there
	defer closeMain(t, m)
	tok = operatorToken(t, dir) // renewed at each start
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", url("query"), user), `[{"id":1,"title":"pants","image":"pants.jpeg","price":0,"currency":"EUR"}]`)
	shoes := post(t, tok, url("products")+"/products", map[string]string{"title": "shoes", "image": "shoes.jpeg"})
	if shoes != 2 {
		t.Fatalf("product id after restart = %d, want 2", shoes)
	}
	post(t, tok, url("orders")+"/orders", map[string]int64{"userId": user, "productId": shoes})
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", url("query"), user),
		`[{"id":2,"title":"shoes","image":"shoes.jpeg","price":0,"currency":"EUR"},{"id":1,"title":"pants","image":"pants.jpeg","price":0,"currency":"EUR"}]`)
}

func TestPortInUseNamesTheFlagToChange(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := testFlags(t.TempDir())
	f.Addr["orders"] = l.Addr().String()
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	err = m.Up(context.Background(), upCmd{serviceFlags: f})
	if err == nil {
		m.Close(context.Background())
		t.Fatal("up started with the orders port taken")
	}
	msg := err.Error()
	if !strings.Contains(msg, "--orders-addr") || !strings.Contains(msg, "HERALD_ORDERS_ADDR") || strings.Contains(msg, "\n") {
		t.Fatalf("error %q should be one line naming --orders-addr and HERALD_ORDERS_ADDR", msg)
	}
}

func TestServeRunsNamedServicesAgainstAnExternalBus(t *testing.T) {
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	dir := t.TempDir()
	serve := func(names ...string) *Main {
		m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
		if err := m.Serve(context.Background(), serveCmd{serviceFlags: testFlags(dir), Services: names, NATS: srv.ClientURL(), Replicas: 1}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	writers := serve("users", "products", "orders")
	defer closeMain(t, writers)
	reader := serve("query") // a second process's worth of services on the same bus
	defer closeMain(t, reader)
	if reader.Service("users") != nil || reader.Service("query") == nil {
		t.Fatal("serve query ran other services than query")
	}
	tok := operatorToken(t, dir)
	user := post(t, tok, writers.Service("users").URL()+"/users", map[string]string{"name": "Two", "email": "two@example.com", "password": "correct horse battery"})
	hat := post(t, tok, writers.Service("products").URL()+"/products", map[string]string{"title": "hat", "image": "hat.png"})
	post(t, tok, writers.Service("orders").URL()+"/orders", map[string]int64{"userId": user, "productId": hat})
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", reader.Service("query").URL(), user), `[{"id":1,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`)
}

func TestEveryFlagHasAHeraldEnvVar(t *testing.T) {
	t.Setenv("HERALD_QUERY_ADDR", "127.0.0.1:9999")
	t.Setenv("HERALD_DATA", "/tmp/elsewhere")
	var c cli
	p := mustParser(t, &c)
	if _, err := p.Parse([]string{"up"}); err != nil {
		t.Fatal(err)
	}
	if addr, _ := c.Up.addr(query.Descriptor); addr != "127.0.0.1:9999" || c.Up.Data != "/tmp/elsewhere" {
		t.Fatalf("env not applied: %+v", c.Up.serviceFlags)
	}
	var check func(n *kong.Node)
	check = func(n *kong.Node) {
		for _, f := range n.Flags {
			if f.Name == "help" {
				continue
			}
			if len(f.Envs) == 0 || !strings.HasPrefix(f.Envs[0], "HERALD_") {
				t.Errorf("%s --%s has no HERALD_* environment variable", n.Path(), f.Name)
			}
		}
		for _, c := range n.Children {
			check(c)
		}
	}
	check(p.Model.Node)
}

func mustParser(t *testing.T, c *cli) *kong.Kong {
	t.Helper()
	p, err := kong.New(c, append(kongOptions(), kong.Exit(func(int) { t.Fatal("kong tried to exit") }))...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
