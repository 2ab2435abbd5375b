package workload

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Exit runs a driver package's benchmarks (call it from TestMain) with a
// directory for the prefilled databases, made once per test binary and
// removed after, and exits with their status.
func Exit(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sqlitedrivers-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	templates.dir = dir
	return m.Run()
}

// templates holds, per driver and database, a prefilled database file that
// each benchmark copies: filling 200,000 events costs seconds, copying the
// file a few milliseconds.
var templates struct {
	mu    sync.Mutex
	dir   string
	files map[string]string // by driver name and kind
}

// kinds of database.
const (
	queryDB  = "query"
	ordersDB = "orders"
)

// database returns the path of a fresh copy, in tb's temporary directory,
// of the database of kind prefilled by d: made by d the first time, copied
// from that after.
func database(tb testing.TB, d Driver, kind string) string {
	tb.Helper()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if templates.dir == "" {
		tb.Fatal("workload.Exit did not run: call it from the package's TestMain")
	}
	key := d.Name + "-" + kind
	src, ok := templates.files[key]
	if !ok {
		src = filepath.Join(templates.dir, key+".db")
		start := time.Now()
		if err := prefill(context.Background(), d, src, kind); err != nil {
			tb.Fatalf("prefill the %s database: %v", kind, err)
		}
		tb.Logf("prefilled the %s database in %v", kind, time.Since(start).Round(time.Millisecond))
		if templates.files == nil {
			templates.files = map[string]string{}
		}
		templates.files[key] = src
	}
	dst := filepath.Join(tb.TempDir(), kind+".db")
	if err := copyFile(dst, src); err != nil {
		tb.Fatal(err)
	}
	return dst
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// prefill creates the database of kind at path with d and fills it as a
// service that has run for a while would be: the query service's read
// model with 100,000 users, 1,000 products and 200,000 order lines (and as
// many processed events); the orders database with those users and
// products known and 200,000 orders, its outbox drained by the relay. The
// same seed gives every driver the same rows. It leaves the whole database
// in the main file (the log checkpointed and removed).
func prefill(ctx context.Context, d Driver, path, kind string) error {
	db, err := Open(ctx, d, path, SyncFull)
	if err != nil {
		return err
	}
	defer db.Close()
	migrations := map[string][]string{queryDB: queryMigrations, ordersDB: ordersMigrations}[kind]
	for _, m := range migrations {
		if _, err := db.ExecContext(ctx, m); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	// fill runs q once per element of args.
	fill := func(q string, n int, args func(i int) []any) error {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range n {
			if _, err := st.ExecContext(ctx, args(i)...); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	}
	switch kind {
	case queryDB:
		ids := newIDs(0, 1)
		err = fill(upsertUser, users, func(i int) []any { return []any{i + 1, 1} })
		if err == nil {
			err = fill(upsertProduct, products, func(i int) []any {
				return []any{i + 1, fmt.Sprintf("product %d", i+1), "p.png", 1999, "EUR", 1}
			})
		}
		if err == nil {
			err = fill(recordEvent, prefillEvents, func(int) []any { return []any{ids.next(), now} })
		}
		if err == nil {
			err = fill(upsertLine, prefillEvents, func(i int) []any {
				return []any{i + 1, 1 + rng.IntN(users), 1 + rng.IntN(products), false, 1}
			})
		}
	case ordersDB:
		err = fill(`INSERT INTO known_users (id) VALUES ($1)`, users, func(i int) []any { return []any{i + 1} })
		if err == nil {
			err = fill(`INSERT INTO known_products (id) VALUES ($1)`, products, func(i int) []any { return []any{i + 1} })
		}
		if err == nil {
			err = fill(insertOrder, prefillEvents, func(int) []any {
				return []any{1 + rng.IntN(users), 1 + rng.IntN(products), "placed", 1, now}
			})
		}
	default:
		err = fmt.Errorf("no database kind %q", kind)
	}
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	return db.Close()
}

// openCopy opens a fresh copy of the database of kind, prefilled by d,
// with d's settings and sync, closed when tb ends.
func openCopy(tb testing.TB, d Driver, kind string, sync Sync) *sql.DB {
	tb.Helper()
	path := database(tb, d, kind)
	db, err := Open(context.Background(), d, path, sync)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
