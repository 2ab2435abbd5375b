package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop/query"
)

// TestViewKeptLiveEqualsTheTables: the in-memory view, kept current event
// by event, answers exactly as a view loaded afresh from the tables, and as
// a SQL join over the tables (the read model's definition), whatever the
// order and duplication of the events.
func TestViewKeptLiveEqualsTheTables(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			q, db := newQuery(t)
			es := history(t, rng)
			rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
			for _, e := range es {
				apply(t, q, db, e)
				if rng.IntN(5) == 0 { // a redelivery: ApplyOnce would skip it, but the view must not mind
					q.Committed([]event.Envelope{e})
				}
			}
			loaded, err := query.New(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			for user := int64(1); user <= 12; user++ { // 11 and 12 are never named
				live, fresh, want := answer(t, q, user), answer(t, loaded, user), sqlAnswer(t, db, user)
				if live != want || fresh != want {
					t.Errorf("user %d: live view %s, loaded view %s, tables %s", user, live, fresh, want)
				}
			}
		})
	}
}

// history is a shop's events: users 1-8 signed up, products 1-6 created
// and updated, first as v1 events (no price), then, from a version on, as
// v2 events with a price, orders (some by users 9 and 10, who never signed
// up), cancellations.
func history(t *testing.T, rng *rand.Rand) []event.Envelope {
	var es []event.Envelope
	for u := int64(1); u <= 8; u++ {
		es = append(es, ev(t, event.UserCreated, 1, event.UserCreatedData{ID: u, Name: "u", Email: "u@x"}))
	}
	for p := int64(1); p <= 6; p++ {
		v2From := 1 + rng.Int64N(4) // the first version products recorded as v2
		for v := int64(1); v <= 1+rng.Int64N(4); v++ {
			typ, title := event.ProductUpdated, fmt.Sprintf("p%d v%d", p, v)
			if v == 1 {
				typ = event.ProductCreated
			}
			if v < v2From {
				es = append(es, ev(t, typ, v, event.ProductData{ID: p, Title: title, Image: "i.png"}))
				continue
			}
			typ = map[string]string{event.ProductCreated: event.ProductCreatedV2, event.ProductUpdated: event.ProductUpdatedV2}[typ]
			es = append(es, ev(t, typ, v, event.ProductDataV2{ID: p, Title: title, Image: "i.png", Price: 100*p + v, Currency: []string{"EUR", "USD", "JPY"}[v%3]}))
		}
	}
	for o := int64(1); o <= 40; o++ {
		d := event.OrderData{ID: o, UserID: 1 + rng.Int64N(10), ProductID: 1 + rng.Int64N(7)} // product 7 never arrives
		es = append(es, ev(t, event.OrderCreated, 1, d))
		if rng.IntN(3) == 0 {
			es = append(es, ev(t, event.OrderCancelled, 2, d))
		}
	}
	return es
}

// sqlAnswer is the read model's answer computed by SQL over its tables.
func sqlAnswer(t *testing.T, db *sql.DB, user int64) string {
	t.Helper()
	rows, err := db.Query(`
		SELECT p.id, p.title, p.image, p.price, p.currency
		FROM order_lines o JOIN products p ON p.id = o.product_id
		WHERE o.user_id = ? AND o.cancelled = 0
		GROUP BY p.id
		ORDER BY max(o.order_id) DESC`, user)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := []query.Product{}
	for rows.Next() {
		var p query.Product
		if err := rows.Scan(&p.ID, &p.Title, &p.Image, &p.Price, &p.Currency); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	var known bool
	if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1) OR EXISTS (SELECT 1 FROM order_lines WHERE user_id = ?1)`, user).Scan(&known); err != nil {
		t.Fatal(err)
	}
	if !known {
		return fmt.Sprintf("not_found: user %d is unknown to the query service (no event about it has arrived)", user)
	}
	return fmt.Sprint(out)
}
