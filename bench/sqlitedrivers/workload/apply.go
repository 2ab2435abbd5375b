package workload

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// Apply benchmarks the query service's consumer catching up, once per
// synchronous mode: transactions of 256 OrderCreated events, each recorded
// in processed_events (store.ApplyEachOnce, its statement prepared once
// per transaction) and folded into order_lines (the upsert of
// shop/query.Service.Apply, prepared once on the database and bound to
// each transaction), on a read model that already holds 200,000 events.
// The consumer is the only writer, so store.Group commits each transaction
// alone, without a savepoint; a passive checkpoint runs beside it every
// 100 ms. One op is one transaction; it reports events/s and ns/event.
func Apply(b *testing.B, d Driver) {
	for _, sync := range []Sync{SyncFull, SyncNormal} {
		b.Run("sync="+string(sync), func(b *testing.B) { apply(b, d, sync) })
	}
}

func apply(b *testing.B, d Driver, sync Sync) {
	// Statements run with a context that cannot be cancelled, as
	// store.Group gives them on SQLite.
	ctx := context.Background()
	db := openCopy(b, d, queryDB, sync)
	line, err := db.PrepareContext(ctx, upsertLine)
	if err != nil {
		b.Fatal(err)
	}
	defer line.Close()
	ckpt := &checkpointer{db: db}
	defer ckpt.wait()
	ids := newIDs(prefillEvents, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	order := int64(prefillEvents)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		record, err := tx.PrepareContext(ctx, recordEvent)
		if err != nil {
			b.Fatal(err)
		}
		for range applyBatch {
			res, err := record.ExecContext(ctx, ids.next(), now)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := res.RowsAffected(); n != 1 || err != nil {
				b.Fatalf("recording a new event affected %d rows (%v)", n, err)
			}
			order++
			if _, err := tx.StmtContext(ctx, line).ExecContext(ctx, order, 1+rng.Int64N(users), 1+rng.Int64N(products), false, 1); err != nil {
				b.Fatal(err)
			}
		}
		record.Close()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		ckpt.committed()
	}
	events := float64(b.N * applyBatch)
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
	reportCPU(b, cpu, events, "event")
}
