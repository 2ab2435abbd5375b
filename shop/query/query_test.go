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

// consumed is the registry of the events query's consumer applies.
var consumed = event.NewRegistry(query.Descriptor.Consumes[0].Events...)

// apply checks each event as the service's consumer does (v1 product
// events are upcast to v2), folds it into the tables in a transaction of
// its own and, once that has committed, into q's view.
func apply(t testing.TB, q *query.Service, db *sql.DB, es ...event.Envelope) {
	t.Helper()
	for _, e := range es {
		e, err := consumed.Checked(e)
		if err != nil {
			t.Fatal(err)
		}
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
	if got, want := answer(t, q, 1), "[{7 v3 v3.png 0 EUR}]"; got != want {
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
	if got, want := answer(t, q, 1), "[{7 hat hat.png 0 EUR}]"; got != want {
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
	if got, want := answer(t, q, 1), "[{7 hat hat.png 0 EUR} {8 mug mug.png 0 EUR}]"; got != want {
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

// TestV1AndV2EventsOfAProductApplyInAnyOrder: a product created and
// updated before products had a price (v1 events, read as v2 with price 0
// EUR) and then given one (a v2 event): whatever the order of arrival, the
// newest version wins, and an older v1 event never resets the price.
func TestV1AndV2EventsOfAProductApplyInAnyOrder(t *testing.T) {
	history := []event.Envelope{
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "hat", Image: "hat.png"}),
		ev(t, event.ProductUpdated, 2, event.ProductData{ID: 7, Title: "red hat", Image: "hat.png"}),
		ev(t, event.ProductUpdatedV2, 3, event.ProductDataV2{ID: 7, Title: "red hat", Image: "hat.png", Price: 1999, Currency: "USD"}),
	}
	for _, order := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			q, db := newQuery(t)
			apply(t, q, db, ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}))
			for _, i := range order {
				apply(t, q, db, history[i])
			}
			want := "[{7 red hat hat.png 1999 USD}]"
			if got := answer(t, q, 1); got != want {
				t.Fatalf("answer %s, want %s", got, want)
			}
			loaded, err := query.New(context.Background(), db) // the tables, as a restart reads them
			if err != nil {
				t.Fatal(err)
			}
			if got := answer(t, loaded, 1); got != want {
				t.Fatalf("after a restart: %s, want %s", got, want)
			}
		})
	}
}

// TestAV1ProductShowsPriceZeroInTheDefaultCurrency: v1 recorded no price.
func TestAV1ProductShowsPriceZeroInTheDefaultCurrency(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db,
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 7}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 2, UserID: 1, ProductID: 8}),
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 7, Title: "old", Image: "old.png"}),
		ev(t, event.ProductCreatedV2, 1, event.ProductDataV2{ID: 8, Title: "new", Image: "new.png", Price: 250, Currency: "GBP"}),
	)
	if got, want := answer(t, q, 1), "[{8 new new.png 250 GBP} {7 old old.png 0 EUR}]"; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}
}

// TestARowFromBeforePricesGetsTheV1Default: a read model built before
// products had a price migrates to one whose rows read price 0 EUR, what
// their v1 events read as once upcast.
func TestARowFromBeforePricesGetsTheV1Default(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	old, err := store.OpenSQLite(context.Background(), path, query.Migrations[:2])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`INSERT INTO products (id, title, image, version) VALUES (7, 'hat', 'hat.png', 2);
		INSERT INTO order_lines (order_id, user_id, product_id, cancelled, version) VALUES (1, 1, 7, 0, 1)`); err != nil {
		t.Fatal(err)
	}
	old.Close()
	db, err := store.OpenSQLite(context.Background(), path, query.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := query.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := answer(t, q, 1), "[{7 hat hat.png 0 EUR}]"; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}
	apply(t, q, db, ev(t, event.ProductUpdated, 1, event.ProductData{ID: 7, Title: "older", Image: "x.png"}))
	apply(t, q, db, ev(t, event.ProductUpdatedV2, 3, event.ProductDataV2{ID: 7, Title: "hat", Image: "hat.png", Price: 500, Currency: "EUR"}))
	if got, want := answer(t, q, 1), "[{7 hat hat.png 500 EUR}]"; got != want {
		t.Fatalf("after a v2 update: %s, want %s", got, want)
	}
}
