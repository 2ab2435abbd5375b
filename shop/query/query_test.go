package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/store"
)

func newQuery(t testing.TB) (*query.Service, *sql.DB) {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "q.db"), query.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := query.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return q, db
}

func ev(t testing.TB, typ string, version int64, data any) event.Envelope {
	t.Helper()
	e, err := event.New("/test", typ, "", version, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// apply folds each event into the tables in a transaction of its own and,
// once it has committed, into q's view, as the service's consumer does.
func apply(t testing.TB, q *query.Service, db *sql.DB, es ...event.Envelope) {
	t.Helper()
	for _, e := range es {
		if err := store.InTx(context.Background(), db, func(tx *sql.Tx) error { return q.Apply(context.Background(), tx, e) }); err != nil {
			t.Fatal(err)
		}
		q.Committed([]event.Envelope{e})
	}
}

func answer(t *testing.T, q *query.Service, user int64) string {
	t.Helper()
	ps, err := q.UserProducts(context.Background(), user)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(ps)
}

func TestOlderProductUpdateIsIgnored(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db,
		ev(t, event.UserCreated, 1, event.UserCreatedData{ID: 1, Name: "a", Email: "a@x"}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}),
		ev(t, event.ProductUpdated, 3, event.ProductData{ID: 7, Title: "v3", Image: "v3.png"}),
		ev(t, event.ProductUpdated, 2, event.ProductData{ID: 7, Title: "v2", Image: "v2.png"}),
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "v1", Image: "v1.png"}),
	)
	if got, want := answer(t, q, 1), "[{7 v3 v3.png}]"; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}
}

func TestOrderForAProductNotYetSeenShowsOnceTheProductArrives(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db, ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}))
	if got := answer(t, q, 1); got != "[]" {
		t.Fatalf("before the product: %s, want [] (the user is known from the order)", got)
	}
	apply(t, q, db, ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "hat", Image: "hat.png"}))
	if got, want := answer(t, q, 1), "[{7 hat hat.png}]"; got != want {
		t.Fatalf("after the product: %s, want %s", got, want)
	}
}

func TestCancellationBeforeItsOrderStaysCancelled(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db,
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "hat", Image: "hat.png"}),
		ev(t, event.OrderCancelled, 2, event.OrderData{ID: 1, UserID: 1, ProductID: 7}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}),
	)
	if got := answer(t, q, 1); got != "[]" {
		t.Fatalf("answer %s, want [] (the order was cancelled)", got)
	}
}

func TestProductOrderedTwiceShowsOnceAtItsNewestOrder(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db,
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "hat", Image: "hat.png"}),
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 8, Title: "mug", Image: "mug.png"}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 3, UserID: 1, ProductID: 7}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 2, UserID: 1, ProductID: 8}),
	)
	if got, want := answer(t, q, 1), "[{7 hat hat.png} {8 mug mug.png}]"; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}
}

func TestUnknownUserIsNotFoundAndKnownUserWithoutOrdersIsEmpty(t *testing.T) {
	q, db := newQuery(t)
	if _, err := q.UserProducts(context.Background(), 1); err == nil {
		t.Fatal("unknown user: no error")
	}
	apply(t, q, db, ev(t, event.UserCreated, 1, event.UserCreatedData{ID: 1, Name: "a", Email: "a@x"}))
	ps, err := q.UserProducts(context.Background(), 1)
	if err != nil || ps == nil || len(ps) != 0 {
		t.Fatalf("known user without orders: %#v, %v; want a non-nil empty slice", ps, err)
	}
}
