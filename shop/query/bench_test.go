package query_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/shop/query"
)

// seedBench gives user 1 twenty ordered products among 1,000 users' orders.
func seedBench(b *testing.B) *query.Service {
	q, db := newQuery(b)
	var es []event.Envelope
	for p := int64(1); p <= 50; p++ {
		es = append(es, ev(b, event.ProductCreated, 1, event.ProductData{ID: p, Title: fmt.Sprintf("product %d", p), Image: "p.png"}))
	}
	order := int64(0)
	for u := int64(1); u <= 1000; u++ {
		for p := int64(1); p <= 20; p++ {
			order++
			es = append(es, ev(b, event.OrderCreated, 1, event.OrderData{ID: order, UserID: u, ProductID: p}))
		}
	}
	apply(b, q, db, es...)
	return q
}

// BenchmarkUserProducts compares answering from the store alone with the
// whole HTTP route (Huma, JSON encoding, in-process, no network). Their ratio
// is what Huma and HTTP add to the read path.
func BenchmarkUserProducts(b *testing.B) {
	q := seedBench(b)
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			ps, err := q.UserProducts(context.Background(), 1)
			if err != nil || len(ps) != 20 {
				b.Fatal(len(ps), err)
			}
		}
	})
	b.Run("http", func(b *testing.B) {
		mux := http.NewServeMux()
		query.Register(httpapi.NewAPI(mux, "bench", "1"), q, slog.New(slog.DiscardHandler))
		req := httptest.NewRequest("GET", "/users/1/products", nil)
		for b.Loop() {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	})
}
