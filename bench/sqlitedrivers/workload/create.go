package workload

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"testing"
	"time"
)

// Create benchmarks the orders service's write path, once per synchronous
// mode: the store.Group commits 16 orders in one transaction, each in a
// savepoint of its own, each order inserted (RETURNING its id) together
// with its shop.order.created.v1 event in the outbox, every statement
// prepared once on the database (shop/orders.New, outbox.Writer,
// store.Group), on an orders database that already holds 200,000 orders.
// A passive checkpoint runs beside it every 100 ms. The relay, which
// drains the outbox in transactions of its own, does not run. One op is
// one transaction; it reports orders/s and ns/order.
func Create(b *testing.B, d Driver) {
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		b.Run("sync="+string(sync), func(b *testing.B) { create(b, d, sync) })
	}
}

func create(b *testing.B, d Driver, sync Sync) {
	ctx := context.Background() // as store.Group's statement context
	db := openCopy(b, d, ordersDB, sync)
	var stmts [4]*sql.Stmt
	for i, q := range []string{insertOrder, addEvent, savepoint, release} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		stmts[i] = st
	}
	insert, add, sp, rel := stmts[0], stmts[1], stmts[2], stmts[3]
	ckpt := &checkpointer{db: db}
	defer ckpt.wait()
	ids := newIDs(0, 5)
	rng := rand.New(rand.NewPCG(6, 7))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range createBatch {
			if _, err := tx.StmtContext(ctx, sp).ExecContext(ctx); err != nil {
				b.Fatal(err)
			}
			user, product := 1+rng.Int64N(users), 1+rng.Int64N(products)
			at := time.Now().UTC().Truncate(time.Millisecond)
			var id int64
			if err := tx.StmtContext(ctx, insert).QueryRowContext(ctx, user, product, "placed", 1, at.Format(time.RFC3339Nano)).Scan(&id); err != nil {
				b.Fatal(err)
			}
			eventID := ids.next()
			payload, err := orderCreated(eventID, id, user, product, time.Now().UTC())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.StmtContext(ctx, add).ExecContext(ctx, eventID, "shop.order.created", payload); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.StmtContext(ctx, rel).ExecContext(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		ckpt.committed()
	}
	orders := float64(b.N * createBatch)
	b.ReportMetric(orders/b.Elapsed().Seconds(), "orders/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/orders, "ns/order")
	reportCPU(b, cpu, orders, "order")
}
