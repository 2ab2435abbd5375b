package workload

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
)

// Read benchmarks reads of the query service's read model: a random user's
// order lines (SELECT ... FROM order_lines WHERE user_id = ?, by the
// order_lines_user index), from 64 goroutines at once on a pool of
// Herald's size (4 connections), the statement prepared once on the pool.
// The read model holds 200,000 lines of 100,000 users (two lines per user
// on average). One op is one read; it reports reads/s.
//
// It runs twice: ctx=cancel gives each read a cancellable context of its
// own, as an HTTP request's is (each driver then watches it, at a cost);
// ctx=background gives them one that cannot be cancelled, as store.Group
// gives a transaction's statements.
func Read(b *testing.B, d Driver) {
	b.Run("ctx=cancel", func(b *testing.B) { read(b, d, true) })
	b.Run("ctx=background", func(b *testing.B) { read(b, d, false) })
}

func read(b *testing.B, d Driver, cancellable bool) {
	db := openCopy(b, d, queryDB, SyncFull)
	st, err := db.PrepareContext(context.Background(), userLines)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var lines, seed atomic.Int64
	b.SetParallelism((readers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(uint64(seed.Add(1)), 8))
		n := int64(0)
		for pb.Next() {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if cancellable {
				ctx, cancel = context.WithCancel(ctx)
			}
			rows, err := st.QueryContext(ctx, 1+rng.Int64N(users))
			if err != nil {
				cancel()
				b.Error(err)
				return
			}
			for rows.Next() {
				var order, product, cancelled, version int64
				if err := rows.Scan(&order, &product, &cancelled, &version); err != nil {
					b.Error(err)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				b.Error(err)
			}
			rows.Close()
			cancel()
		}
		lines.Add(n)
	})
	b.StopTimer()
	reportCPU(b, cpu, float64(b.N), "read")
	if b.N >= 1000 && lines.Load() < int64(b.N) {
		b.Fatalf("%d reads found %d lines: fewer than one a user", b.N, lines.Load())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(lines.Load())/float64(b.N), "lines/read")
}
