package shop_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/store"
)

// TestWriteServicesShareAPostgresDatabaseBetweenTwoInstances runs two
// instances of each write service, each pair on its own PostgreSQL database,
// and the query service. Whichever instance takes a write, the shop behaves
// as one: the same history gives the same view, racing writes to one entity
// are serialised (consecutive versions, one cancellation, one sign-up per
// email), every event reaches the stream once, and orders' shared consumer
// applies each user and product event once.
func TestWriteServicesShareAPostgresDatabaseBetweenTwoInstances(t *testing.T) {
	e := newEnv(t)
	dbs := map[string]string{}
	a, b := map[string]*svc{}, map[string]*svc{}
	for _, name := range []string{"users", "products", "orders"} {
		dbs[name] = testenv.Postgres(t)
		a[name] = e.start(name, withDB(dbs[name]))
		b[name] = e.start(name, withDB(dbs[name]))
	}
	a["query"] = e.start("query")
	b["query"] = a["query"]

	// The seed history through one instance of each, then through the other.
	want := shopHistory(t, a)
	for user, ps := range shopHistoryNamed(t, b, "2") {
		want[user] = ps
	}
	waitViews(t, a["query"], want)

	// The same email signed up on both instances at once: one 201, the
	// rest 409.
	statuses := race(t, 8, func(i int) int {
		inst := []*svc{a["users"], b["users"]}[i%2]
		return try("POST", inst.URL()+"/users", signUp("Dup", "dup@example.com"))
	})
	if n := count(statuses, http.StatusCreated); n != 1 || count(statuses, http.StatusConflict) != len(statuses)-1 {
		t.Errorf("one email signed up 8 times over two instances: statuses %v, want one 201 and the rest 409", statuses)
	}

	// Updates of one product on both instances at once: consecutive
	// versions, none lost.
	p := createProduct(t, a["products"], "lamp", "lamp.png")
	const updates = 20
	statuses = race(t, updates, func(i int) int {
		inst := []*svc{a["products"], b["products"]}[i%2]
		return try("PUT", fmt.Sprintf("%s/products/%d", inst.URL(), p), map[string]string{"title": fmt.Sprintf("lamp %d", i)})
	})
	if n := count(statuses, http.StatusOK); n != updates {
		t.Errorf("racing product updates answered %v, want all 200", statuses)
	}
	var version int64
	queryRow(t, dbs["products"], `SELECT version FROM products WHERE id = $1`, []any{p}, &version)
	if version != 1+updates {
		t.Errorf("product after %d racing updates is at version %d, want %d", updates, version, 1+updates)
	}

	// One order cancelled on both instances at once: one cancellation.
	user := createUser(t, a["users"], "Racer")
	order := placeOrder(t, b["orders"], user, p)
	statuses = race(t, 6, func(i int) int {
		inst := []*svc{a["orders"], b["orders"]}[i%2]
		return try("DELETE", fmt.Sprintf("%s/orders/%d", inst.URL(), order), nil)
	})
	if n := count(statuses, http.StatusOK); n != 6 {
		t.Errorf("racing cancellations answered %v, want all 200", statuses)
	}
	waitView(t, a["query"], user, []product{})

	// Every committed event is in the stream once, each entity's in version
	// order; the updates' versions are exactly 2..21. The view says nothing
	// of products' relays, which publish on their own time and may still
	// hold the last updates: wait until all 20 and the cancellation are out.
	var msgs []jetstream.Stored
	var lampVersions []int64
	var cancels int
	testenv.Eventually(t, 20*time.Second, func() error {
		msgs = e.events()
		lampVersions, cancels = nil, 0
		for _, m := range msgs {
			ev, err := event.Parse(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			if ev.Type == event.ProductUpdatedV2 && ev.Subject == fmt.Sprint(p) {
				lampVersions = append(lampVersions, ev.EntityVersion)
			}
			if ev.Type == event.OrderCancelled && ev.Subject == fmt.Sprint(order) {
				cancels++
			}
		}
		if len(lampVersions) < updates || cancels < 1 {
			return fmt.Errorf("%d of %d updates and %d cancellations in the stream", len(lampVersions), updates, cancels)
		}
		return nil
	})
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, m := range msgs {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ev.ID] {
			t.Errorf("event %s is in the stream twice", ev.ID)
		}
		seen[ev.ID] = true
		key := ev.Source + "/" + ev.Subject
		if ev.EntityVersion <= last[key] {
			t.Errorf("%s: version %d after %d in the stream", key, ev.EntityVersion, last[key])
		}
		last[key] = ev.EntityVersion
	}
	if want := versionsFrom(2, 1+updates); !slices.Equal(lampVersions, want) {
		t.Errorf("the product's update events carry versions %v, want %v", lampVersions, want)
	}
	if cancels != 1 {
		t.Errorf("%d cancellation events for one order cancelled 6 times, want 1", cancels)
	}

	// orders' copy of users and products: every created event applied once,
	// by one instance or the other.
	var users, products, processed int
	queryRow(t, dbs["users"], `SELECT count(*) FROM users`, nil, &users)
	queryRow(t, dbs["products"], `SELECT count(*) FROM products`, nil, &products)
	testenv.Eventually(t, 20*time.Second, func() error {
		queryRow(t, dbs["orders"], `SELECT count(*) FROM processed_events`, nil, &processed)
		if processed != users+products {
			return fmt.Errorf("orders applied %d events, want %d (%d users + %d products)", processed, users+products, users, products)
		}
		return nil
	})
}

// shopHistoryNamed is shopHistory with user names and emails suffixed, so
// it can run again on the same databases.
func shopHistoryNamed(t *testing.T, s map[string]*svc, suffix string) map[int64][]product {
	t.Helper()
	ann := createUser(t, s["users"], "Ann"+suffix)
	hat := createProduct(t, s["products"], "hat"+suffix, "hat.png")
	placeOrder(t, s["orders"], ann, hat)
	return map[int64][]product{ann: {{ID: hat, Title: "hat" + suffix, Image: "hat.png"}}}
}

// try sends body as JSON and returns the answer's status, 0 if there is
// none. Unlike testenv.Do it may run outside the test's goroutine.
func try(method, url string, body any) int {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// race runs f(0..n-1) all at once and returns their results.
func race(t *testing.T, n int, f func(i int) int) []int {
	t.Helper()
	out := make([]int, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			out[i] = f(i)
		})
	}
	start.Done()
	wg.Wait()
	return out
}

func count(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func versionsFrom(from, to int64) []int64 {
	var vs []int64
	for v := from; v <= to; v++ {
		vs = append(vs, v)
	}
	return vs
}

// queryRow reads one row from the database at dsn.
func queryRow(t *testing.T, dsn, q string, args []any, dest ...any) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(q, args...).Scan(dest...); err != nil && err != sql.ErrNoRows {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestWriteAnswers503WhileItsDatabaseIsUnreachable cuts the users service
// off its PostgreSQL database (a proxy in between stops): a write answers
// 503 saying the database cannot be reached, and is not made; once the
// database is reachable again, writes succeed and their events flow.
func TestWriteAnswers503WhileItsDatabaseIsUnreachable(t *testing.T) {
	e := newEnv(t)
	dsn := testenv.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr
	users := e.start("users", withDB(u.String()))
	createUser(t, users, "Before")

	p.stop()
	code, raw := testenv.Do(t, "POST", users.URL()+"/users", signUp("During", "during@example.com"), nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(string(raw), "cannot reach its database") {
		t.Fatalf("write with the database unreachable: %d %s, want 503 saying the database cannot be reached", code, raw)
	}
	p.start(t)
	testenv.Eventually(t, 20*time.Second, func() error {
		code, raw := testenv.Do(t, "POST", users.URL()+"/users", signUp("After", "after@example.com"), nil)
		if code != http.StatusCreated {
			return fmt.Errorf("write after the database came back: %d %s", code, raw)
		}
		return nil
	})
	var names []string
	testenv.Eventually(t, 10*time.Second, func() error {
		names = nil
		for _, m := range e.events() {
			ev, err := event.Parse(m.Data)
			if err != nil {
				return err
			}
			d, err := event.Decode[event.UserCreatedData](ev)
			if err != nil {
				return err
			}
			names = append(names, d.Name)
		}
		if !slices.Equal(names, []string{"Before", "After"}) {
			return fmt.Errorf("stream holds users %v, want [Before After]", names)
		}
		return nil
	})
}

// proxy forwards TCP connections to a target until stopped; started again,
// it listens on the same address.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	p := &proxy{target: target, addr: "127.0.0.1:0"}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// stop closes the listener and every connection through the proxy.
func (p *proxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
