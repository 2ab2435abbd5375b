package shop_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
)

func TestSeedExampleUserOrdersPantsAndShoes(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()

	user := createUser(t, s["users"], "One")
	var pants, shoes int64
	for i := 1; i <= 20; i++ {
		title, image := fmt.Sprintf("item %d", i), fmt.Sprintf("item%d.png", i)
		switch i {
		case 5:
			title, image = "pants", "pants.jpeg"
		case 20:
			title, image = "shoes", "shoes.jpeg"
		}
		id := createProduct(t, s["products"], title, image)
		switch i {
		case 5:
			pants = id
		case 20:
			shoes = id
		}
	}
	if user != 1 || pants != 5 || shoes != 20 {
		t.Fatalf("ids: user %d, pants %d, shoes %d; want 1, 5, 20", user, pants, shoes)
	}
	placeOrder(t, s["orders"], user, pants)
	placeOrder(t, s["orders"], user, shoes)

	waitView(t, s["query"], user, []product{
		{ID: 20, Title: "shoes", Image: "shoes.jpeg"}, // newest order first
		{ID: 5, Title: "pants", Image: "pants.jpeg"},
	})
}

// shopHistory runs a small but complete history through the write services:
// users, products, orders, a product update, a re-order of the same product
// and a cancellation. It returns every user id and the answer the query
// service must give for each.
func shopHistory(t *testing.T, s map[string]*svc) map[int64][]product {
	t.Helper()
	ann, bob, cat := createUser(t, s["users"], "Ann"), createUser(t, s["users"], "Bob"), createUser(t, s["users"], "Cat")
	hat := createProduct(t, s["products"], "hat", "hat.png")
	mug := createProduct(t, s["products"], "mug", "mug.png")
	pen := createProduct(t, s["products"], "pen", "pen.png")

	placeOrder(t, s["orders"], ann, hat)
	placeOrder(t, s["orders"], ann, mug)
	placeOrder(t, s["orders"], ann, hat) // hat again: shown once, now newest
	cancelled := placeOrder(t, s["orders"], bob, pen)
	placeOrder(t, s["orders"], bob, mug)
	testenv.MustDo(t, http.StatusOK, "DELETE", fmt.Sprintf("%s/orders/%d", s["orders"].URL(), cancelled), nil, nil)
	testenv.MustDo(t, http.StatusOK, "PUT", fmt.Sprintf("%s/products/%d", s["products"].URL(), mug), map[string]string{"title": "big mug"}, nil)
	testenv.MustDo(t, http.StatusOK, "PUT", fmt.Sprintf("%s/products/%d", s["products"].URL(), mug), map[string]string{"image": "big-mug.png"}, nil)

	bigMug := product{ID: mug, Title: "big mug", Image: "big-mug.png"}
	return map[int64][]product{
		ann: {{ID: hat, Title: "hat", Image: "hat.png"}, bigMug},
		bob: {bigMug},
		cat: {},
	}
}

func waitViews(t *testing.T, query *svc, want map[int64][]product) {
	t.Helper()
	for user, ps := range want {
		waitView(t, query, user, ps)
	}
}

func TestQueryAnswersWhileWritersAreDown(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := shopHistory(t, s)
	waitViews(t, s["query"], want)

	for _, name := range []string{"users", "products", "orders"} {
		s[name].MustStop()
	}
	for _, name := range []string{"users", "products", "orders"} {
		if resp, err := http.Get(s[name].URL() + "/livez"); err == nil {
			resp.Body.Close()
			t.Fatalf("%s still answers after stop", name)
		}
	}

	for user, ps := range want {
		code, got := userProducts(t, s["query"], user)
		if code != http.StatusOK || fmt.Sprint(got) != fmt.Sprint(ps) {
			t.Errorf("user %d with writers down: status %d, %v; want 200, %v", user, code, got, ps)
		}
	}
	if code, _ := userProducts(t, s["query"], 999); code != http.StatusNotFound {
		t.Errorf("unknown user with writers down: status %d, want 404", code)
	}
	testenv.MustDo(t, http.StatusOK, "GET", s["query"].URL()+"/readyz", nil, nil)
}

// orderGrid places one order for every (user, product) pair of nUsers users
// and nProducts products, with the query service stopped if stopQuery is set,
// and returns the answer each user must get.
func orderGrid(t *testing.T, s map[string]*svc, nUsers, nProducts int) map[int64][]product {
	t.Helper()
	var users []int64
	var products []product
	for i := range nUsers {
		users = append(users, createUser(t, s["users"], fmt.Sprintf("User%d", i)))
	}
	for i := range nProducts {
		p := product{Title: fmt.Sprintf("product %d", i), Image: fmt.Sprintf("p%d.png", i)}
		p.ID = createProduct(t, s["products"], p.Title, p.Image)
		products = append(products, p)
	}
	want := map[int64][]product{}
	for _, u := range users {
		for _, p := range products {
			placeOrder(t, s["orders"], u, p.ID)
			want[u] = append([]product{p}, want[u]...) // newest first
		}
	}
	return want
}

func TestQueryCatchesUpAfterRestart(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	s["query"].MustStop()

	want := orderGrid(t, s, 10, 10) // 100 orders while query is down

	logs := &testenv.SyncBuffer{}
	query := e.start("query", withLogger(slog.New(slog.NewTextHandler(logs, nil)))) // same database as before
	waitViews(t, query, want)
	testenv.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), "msg=\"catching up\" service=query consumer=shop-query behind=") ||
			!strings.Contains(logs.String(), "msg=\"caught up\"") {
			return fmt.Errorf("no catch-up progress in the logs:\n%s", logs)
		}
		return nil
	})
	_, metrics := testenv.Do(t, "GET", query.URL()+"/metrics", nil, nil)
	if !strings.Contains(string(metrics), `herald_consumer_lag{consumer="shop-query"} 0`) {
		t.Fatalf("metrics lack a zero lag for shop-query:\n%s", metrics)
	}
	// Every event applied after the restart was observed as propagation lag
	// (the ones before it by the service that ran then).
	if !regexp.MustCompile(`(?m)^herald_event_lag_seconds_count [1-9]`).Match(metrics) {
		t.Fatalf("metrics lack observations of herald_event_lag_seconds:\n%s", metrics)
	}
	var lines int
	if err := query.DB.QueryRow(`SELECT count(*) FROM order_lines`).Scan(&lines); err != nil {
		t.Fatal(err)
	}
	if lines != 100 {
		t.Fatalf("query has %d order lines, want 100", lines)
	}
}

func TestNewQueryServiceBuildsViewFromHistory(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := shopHistory(t, s)
	waitViews(t, s["query"], want)
	before := dump(t, s["query"].DB)
	s["query"].MustStop()

	fresh := e.start("query", withDataDir(t.TempDir())) // empty database, same consumer name
	waitViews(t, fresh, want)
	if got := dump(t, fresh.DB); got != before {
		t.Fatalf("rebuilt read model differs:\n%s\nwant:\n%s", got, before)
	}
}

func TestEveryEventDeliveredTwiceGivesSameView(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := shopHistory(t, s)
	waitViews(t, s["query"], want)
	before := dump(t, s["query"].DB)

	history := e.events()
	for _, m := range history {
		// A fresh message id gets past JetStream's duplicate window: only the
		// consumer's own record of event ids stands between it and a double apply.
		if err := e.bus.Publish(context.Background(), m.Subject, event.NewID(), m.Data); err != nil {
			t.Fatal(err)
		}
	}
	// The consumer handles events in stream order: once a user created after
	// the duplicates is visible, every duplicate has been handled.
	sentinel := createUser(t, s["users"], "Sentinel")
	waitView(t, s["query"], sentinel, []product{})

	if got := s["query"].Duplicates(); got != int64(len(history)) {
		t.Fatalf("query absorbed %d duplicates, want %d (one per republished event)", got, len(history))
	}
	after := dump(t, s["query"].DB)
	after = strings.Replace(after, fmt.Sprintf("user %d v1\n", sentinel), "", 1)
	if after != before {
		t.Fatalf("read model changed by duplicates:\n%s\nwas:\n%s", after, before)
	}
	waitViews(t, s["query"], want)
}

func TestShuffledDeliveryGivesSameView(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := shopHistory(t, s)
	waitViews(t, s["query"], want)
	inOrder := dump(t, s["query"].DB)
	history := e.events()

	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			shuffled := newEnv(t)
			r := rand.New(rand.NewPCG(seed, 42))
			r.Shuffle(len(history), func(i, j int) { history[i], history[j] = history[j], history[i] })
			for _, m := range history {
				id := m.Header["Nats-Msg-Id"][0]
				if err := shuffled.bus.Publish(context.Background(), m.Subject, id, m.Data); err != nil {
					t.Fatal(err)
				}
			}
			query := shuffled.start("query")
			testenv.Eventually(t, 20*time.Second, func() error {
				var n int
				if err := query.DB.QueryRow(`SELECT count(*) FROM processed_events`).Scan(&n); err != nil {
					return err
				}
				if n != len(history) {
					return fmt.Errorf("%d of %d events applied", n, len(history))
				}
				return nil
			})
			if got := dump(t, query.DB); got != inOrder {
				t.Fatalf("shuffled read model:\n%s\nin-order read model:\n%s", got, inOrder)
			}
			waitViews(t, query, want)
		})
	}
}

func TestPoisonEventIsDeadLetteredAndLaterEventsApplied(t *testing.T) {
	e := newEnv(t)
	var attempts atomic.Int32
	failPoison := func(h bus.Handler) bus.Handler {
		return func(ctx context.Context, m bus.Message) error {
			if strings.Contains(string(m.Data), "poison") {
				attempts.Add(1)
				return errors.New("cannot digest poison")
			}
			return h(ctx, m)
		}
	}
	s := map[string]*svc{}
	for _, n := range []string{"users", "products", "orders"} {
		s[n] = e.start(n)
	}
	s["query"] = e.start("query", withWrap(failPoison)) // MaxDeliver is 3 in tests

	createProduct(t, s["products"], "poison", "skull.png")
	want := orderGrid(t, s, 1, 2)
	waitViews(t, s["query"], want)

	var dead []bus.DeadLetter
	testenv.Eventually(t, 15*time.Second, func() error {
		var err error
		if dead, err = e.bus.DeadLetters(context.Background(), "shop-query"); err != nil {
			return err
		}
		if len(dead) != 1 {
			return fmt.Errorf("%d dead letters, want 1", len(dead))
		}
		return nil
	})
	d := dead[0]
	if d.Attempts != 3 || !strings.Contains(d.Error, "cannot digest poison") || d.Subject != "shop.product.created" ||
		!strings.Contains(string(d.Data), "poison") {
		t.Fatalf("dead letter = %+v; want 3 attempts at shop.product.created with the handler's error", d)
	}
	if n := attempts.Load(); n != 3 {
		t.Fatalf("poison event tried %d times, want exactly 3", n)
	}
}

// failingPublisher stands in for a bus the relay cannot reach: the process
// commits the entity and its outbox row, then dies before publishing.
type failingPublisher struct{}

func (failingPublisher) Publish(context.Context, string, string, []byte) error {
	return errors.New("bus unreachable")
}

func TestEventCommittedBeforeACrashIsPublishedAfterRestart(t *testing.T) {
	e := newEnv(t)
	query := e.start("query")
	users := e.start("users", withPublisher(failingPublisher{}))

	id := createUser(t, users, "Crash")
	if n, err := outbox.Pending(context.Background(), users.DB); err != nil || n != 1 {
		t.Fatalf("outbox pending = %d, %v; want 1", n, err)
	}
	users.MustStop() // its last flush fails too: the event is only in the outbox
	if n := len(e.events()); n != 0 {
		t.Fatalf("%d events on the bus before the restart, want 0", n)
	}
	if code, _ := userProducts(t, query, id); code != http.StatusNotFound {
		t.Fatalf("query knows user %d before its event was published (status %d)", id, code)
	}

	users = e.start("users") // the restart, with the bus reachable
	waitView(t, query, id, []product{})
	testenv.Eventually(t, 10*time.Second, func() error {
		n, err := outbox.Pending(context.Background(), users.DB)
		if err == nil && n != 0 {
			err = fmt.Errorf("%d events still in the outbox", n)
		}
		return err
	})
	if n := len(e.events()); n != 1 {
		t.Fatalf("%d events on the bus after the restart, want exactly 1", n)
	}
}

// dump renders the query service's whole read model as text, in a stable
// order, so two read models can be compared by content.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []struct{ sql, format string }{
		{`SELECT id, version FROM users ORDER BY id`, "user %v v%v\n"},
		{`SELECT id, title, image, version FROM products ORDER BY id`, "product %v %q %q v%v\n"},
		{`SELECT order_id, user_id, product_id, cancelled, version FROM order_lines ORDER BY order_id`, "order %v user %v product %v cancelled=%v v%v\n"},
	} {
		rows, err := db.Query(q.sql)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, q.format, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

func TestOrdersListsAUsersOrdersNewestFirst(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	shopHistory(t, s)
	type order struct {
		ID        int64  `json:"id"`
		UserID    int64  `json:"userId"`
		ProductID int64  `json:"productId"`
		Status    string `json:"status"`
	}
	// Bob (user 2) ordered the pen (product 3, then cancelled) and the mug (2).
	var got []order
	testenv.MustDo(t, http.StatusOK, "GET", s["orders"].URL()+"/orders?userId=2", nil, &got)
	want := []order{{ID: 5, UserID: 2, ProductID: 2, Status: "placed"}, {ID: 4, UserID: 2, ProductID: 3, Status: "cancelled"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("orders of user 2: %v, want %v", got, want)
	}
	var none []order
	testenv.MustDo(t, http.StatusOK, "GET", s["orders"].URL()+"/orders?userId=3", nil, &none)
	if none == nil || len(none) != 0 {
		t.Errorf("orders of a user without orders: %v, want []", none)
	}
}
