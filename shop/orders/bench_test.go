package orders_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/shop/orders"
	"github.com/heraldev/herald/store"
)

// quietSink is an outbox sink with no relay: the events stay in the outbox.
type quietSink struct{}

func (quietSink) Notify()         {}
func (quietSink) Refusing() error { return nil }

// BenchmarkCreate measures orders' write path without HTTP or a bus: 64
// concurrent callers placing orders, each an order row and its event
// committed through the database's one writer (grouped, fsynced).
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	db, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "orders.db"), orders.Migrations)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO known_users (id) VALUES (1); INSERT INTO known_products (id) VALUES (1)`); err != nil {
		b.Fatal(err)
	}
	g := store.NewGroup(db)
	defer g.Close() // before the database closes
	s, err := orders.New(ctx, db, outbox.NewWriter(g, quietSink{}))
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(32) // 64 callers on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Create(ctx, 1, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
