package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/store"
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
	mux := http.NewServeMux()
	query.Register(httpapi.NewAPI(mux, "bench", "1"), q, slog.New(slog.DiscardHandler))
	serve := func(b *testing.B, h http.Handler, req func() *http.Request) {
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req())
			if w.Code != http.StatusOK {
				b.Fatal(w.Code, w.Body.String())
			}
		}
	}
	// With authorization off: the caller's claims are simply there.
	b.Run("http", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/users/1/products", nil)
		req = req.WithContext(auth.WithClaims(req.Context(), &auth.Claims{UserID: 1, Role: auth.RoleUser}))
		serve(b, mux, func() *http.Request { return req })
	})
	// As deployed: the user's token verified by the service itself. A
	// client reuses its token for 15 minutes, so "token" (verified once,
	// then from the verifier's cache) is the usual read; "fresh-token"
	// pays for an Ed25519 verification on every request.
	key, err := auth.NewSigningKey()
	if err != nil {
		b.Fatal(err)
	}
	keys := &auth.KeySet{}
	keys.Add(key.Public())
	v := auth.NewVerifier(func() *auth.KeySet { return keys })
	issuer := &auth.Issuer{Key: key}
	withToken := func(tok string) *http.Request {
		req := httptest.NewRequest("GET", "/users/1/products", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		return req
	}
	tok, _, err := issuer.Issue(1, auth.RoleUser)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("http-token", func(b *testing.B) {
		req := withToken(tok)
		serve(b, v.Middleware(mux), func() *http.Request { return req })
	})
	b.Run("http-fresh-token", func(b *testing.B) {
		toks := make([]string, 4096)
		for i := range toks {
			if toks[i], _, err = issuer.Issue(1, auth.RoleUser); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		serve(b, v.Middleware(mux), func() *http.Request { i++; return withToken(toks[i%len(toks)]) })
	})
}

// BenchmarkApply folds OrderCreated events into the read model's tables as
// the consumer does: each in a transaction of its own (a consumer that
// keeps up), and 256 to a transaction (one that is behind, or rebuilding).
// Each transaction commits with SQLite's full fsync.
func BenchmarkApply(b *testing.B) {
	for _, batch := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			q, db := newQuery(b)
			g := store.NewGroup(db)
			b.Cleanup(g.Close)
			order := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				ids := make([]string, batch)
				es := make([]event.Envelope, batch)
				for i := range batch {
					order++
					es[i] = ev(b, event.OrderCreated, 1, event.OrderData{ID: order, UserID: 1 + order%1000, ProductID: 1 + order%50})
					ids[i] = es[i].ID
				}
				if _, err := store.ApplyEachOnce(context.Background(), g, ids, func(ctx context.Context, tx *sql.Tx, i int) error {
					return q.Apply(ctx, tx, es[i])
				}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
