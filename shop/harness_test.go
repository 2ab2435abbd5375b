package shop_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
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
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"), testenv.Stream{Name: shop.Stream, Subjects: []string{shop.StreamSubjects}})
	return &env{t: t, dir: dir, srv: n.Server, bus: n.Bus}
}

// svc is a running shop service.
type svc = testenv.Service

// option changes a service's configuration before it starts.
type option func(*shop.Config, *outbox.Publisher)

// withDataDir gives the service its own data dir (a new, empty database).
func withDataDir(dir string) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.DataDir = dir }
}

// withDB puts the service's database at dsn (a postgres:// URL or a file).
func withDB(dsn string) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.DB = dsn }
}

// withReplica names the query replica.
func withReplica(name string) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Replica = name }
}

// withWrap wraps the service's consumer handlers.
func withWrap(w func(bus.Handler) bus.Handler) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Wrap = w }
}

// withLogger sends the service's logs to log.
func withLogger(log *slog.Logger) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Logger = log }
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
	return testenv.StartService(ctx, e.t, s, e.bus)
}

// startAll starts users, products, orders and query.
func (e *env) startAll() map[string]*svc {
	m := map[string]*svc{}
	for _, n := range shop.Services {
		m[n] = e.start(n)
	}
	return m
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

type product struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Image string `json:"image"`
}

type idOnly struct {
	ID int64 `json:"id"`
}

// password is the password every test user signs up with: valid (10 to
// 256 bytes), so that sign-up succeeds.
const password = "correct horse battery staple"

// signUp is the body of a valid sign-up for name, email.
func signUp(name, email string) map[string]string {
	return map[string]string{"name": name, "email": email, "password": password}
}

// createUser signs up name, with the email name@example.com (lower-cased)
// and password, and returns the user's id.
func createUser(t *testing.T, users *svc, name string) int64 {
	t.Helper()
	var u idOnly
	testenv.MustDo(t, http.StatusCreated, "POST", users.URL()+"/users", signUp(name, strings.ToLower(name)+"@example.com"), &u)
	return u.ID
}

func createProduct(t *testing.T, products *svc, title, image string) int64 {
	t.Helper()
	var p idOnly
	testenv.MustDo(t, http.StatusCreated, "POST", products.URL()+"/products", map[string]string{"title": title, "image": image}, &p)
	return p.ID
}

// placeOrder places an order, waiting until orders has heard of the user and
// the product (it learns of them from events, so there is a short delay).
func placeOrder(t *testing.T, orders *svc, userID, productID int64) int64 {
	t.Helper()
	var o idOnly
	testenv.Eventually(t, 15*time.Second, func() error {
		code, raw := testenv.Do(t, "POST", orders.URL()+"/orders", map[string]int64{"userId": userID, "productId": productID}, &o)
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
	code, _ := testenv.Do(t, "GET", fmt.Sprintf("%s/users/%d/products", query.URL(), userID), nil, &ps)
	return code, ps
}

// waitView polls the query service until user's answer equals want.
func waitView(t *testing.T, query *svc, userID int64, want []product) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
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

// staller holds a consumer's messages while it is on: a service that has
// not yet heard of what was just written elsewhere.
type staller struct {
	on      atomic.Bool
	release chan struct{}
	once    sync.Once
}

// newStaller returns a staller, off; the test's end releases what it holds.
func newStaller(t *testing.T) *staller {
	s := &staller{release: make(chan struct{})}
	t.Cleanup(s.free)
	return s
}

// wrap is the consumer wrapper (withWrap) that stalls.
func (s *staller) wrap(h bus.Handler) bus.Handler {
	return func(ctx context.Context, m bus.Message) error {
		if s.on.Load() {
			<-s.release
		}
		return h(ctx, m)
	}
}

// stall holds every message from now on, until free.
func (s *staller) stall() { s.on.Store(true) }

// free lets the held messages and every later one through.
func (s *staller) free() {
	s.once.Do(func() { close(s.release) })
	s.on.Store(false)
}

// startShop starts the shop's services, stalled's consumer wrapped by st.
func (e *env) startShop(stalled string, st *staller) map[string]*svc {
	s := map[string]*svc{}
	for _, n := range shop.Services {
		var opts []option
		if n == stalled {
			opts = append(opts, withWrap(st.wrap))
		}
		s[n] = e.start(n, opts...)
	}
	return s
}
