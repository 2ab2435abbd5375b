package shop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// env is a shop under test: a real embedded NATS JetStream server and real
// SQLite databases in a temp dir, services on random loopback ports.
type env struct {
	t   *testing.T
	dir string
	srv *jetstream.Server
	bus *jetstream.Bus
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b, err := jetstream.New(nc, jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStream(context.Background(), shop.Stream, shop.StreamSubjects); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, srv: srv, bus: b}
}

// svc is a running shop service.
type svc struct {
	*service.Service
	t *testing.T
}

// option changes a service's configuration before it starts.
type option func(*shop.Config, *outbox.Publisher)

// withDataDir gives the service its own data dir (a new, empty database).
func withDataDir(dir string) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.DataDir = dir }
}

// withWrap wraps the service's consumer handlers.
func withWrap(w func(bus.Handler) bus.Handler) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Wrap = w }
}

// withLogger sends the service's logs to log.
func withLogger(log *slog.Logger) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Logger = log }
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// withPublisher makes the service's outbox relay publish to p.
func withPublisher(p outbox.Publisher) option {
	return func(_ *shop.Config, pub *outbox.Publisher) { *pub = p }
}

// start builds and starts the named service on a random port. It is stopped
// when the test ends, if the test has not stopped it.
func (e *env) start(name string, opts ...option) *svc {
	e.t.Helper()
	cfg := shop.Config{
		DataDir: e.dir, Addr: "127.0.0.1:0",
		MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second,
	}
	var pub outbox.Publisher = e.bus
	for _, o := range opts {
		o(&cfg, &pub)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := shop.Build(ctx, name, cfg, pub)
	if err != nil {
		e.t.Fatal(err)
	}
	s.ProgressEvery = 20 * time.Millisecond
	if err := s.Start(ctx, e.bus); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Stop(context.Background()) })
	return &svc{Service: s, t: e.t}
}

// startAll starts users, products, orders and query.
func (e *env) startAll() map[string]*svc {
	m := map[string]*svc{}
	for _, n := range shop.Services {
		m[n] = e.start(n)
	}
	return m
}

func (s *svc) stop() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// events returns every event in the SHOP stream, in stream order.
func (e *env) events() []jetstream.Stored {
	e.t.Helper()
	msgs, err := e.bus.Read(context.Background(), shop.Stream, nil, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// It returns the status code and the raw body.
func do(t *testing.T, method, url string, body any, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	code, _, raw := send(t, method, url, ct, r)
	if out != nil && code < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return code, raw
}

// send makes one request with body r (may be nil) and returns the answer's
// status, headers and body.
func send(t *testing.T, method, url, contentType string, r io.Reader) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// mustDo is do that fails the test unless the status is want.
func mustDo(t *testing.T, want int, method, url string, body, out any) {
	t.Helper()
	if code, raw := do(t, method, url, body, out); code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, raw)
	}
}

type product struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Image string `json:"image"`
}

type idOnly struct {
	ID int64 `json:"id"`
}

func createUser(t *testing.T, users *svc, name string) int64 {
	t.Helper()
	var u idOnly
	mustDo(t, http.StatusCreated, "POST", users.URL()+"/users", map[string]string{"name": name, "email": strings.ToLower(name) + "@example.com"}, &u)
	return u.ID
}

func createProduct(t *testing.T, products *svc, title, image string) int64 {
	t.Helper()
	var p idOnly
	mustDo(t, http.StatusCreated, "POST", products.URL()+"/products", map[string]string{"title": title, "image": image}, &p)
	return p.ID
}

// placeOrder places an order, waiting until orders has heard of the user and
// the product (it learns of them from events, so there is a short delay).
func placeOrder(t *testing.T, orders *svc, userID, productID int64) int64 {
	t.Helper()
	var o idOnly
	eventually(t, 15*time.Second, func() error {
		code, raw := do(t, "POST", orders.URL()+"/orders", map[string]int64{"userId": userID, "productId": productID}, &o)
		if code != http.StatusCreated {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		return nil
	})
	return o.ID
}

// userProducts asks the query service; it returns the status and the answer.
func userProducts(t *testing.T, query *svc, userID int64) (int, []product) {
	t.Helper()
	var ps []product
	code, _ := do(t, "GET", fmt.Sprintf("%s/users/%d/products", query.URL(), userID), nil, &ps)
	return code, ps
}

// waitView polls the query service until user's answer equals want.
func waitView(t *testing.T, query *svc, userID int64, want []product) {
	t.Helper()
	eventually(t, 20*time.Second, func() error {
		code, got := userProducts(t, query, userID)
		if code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	})
}

// eventually polls f until it returns nil, failing the test with f's last
// error at the deadline.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(wait) // polling interval, not a stand-in for synchronisation
		wait = min(wait*2, 200*time.Millisecond)
	}
}
