package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/store"
)

// TestStoreConformance runs one suite against every engine: what a service
// relies on of its database must hold on SQLite (the embedded default) and on
// PostgreSQL (shared by several instances) alike. The PostgreSQL half skips,
// saying why, when no server is reachable (see testenv.PostgresServer).
func TestStoreConformance(t *testing.T) {
	engines := []struct {
		name  string
		newDB func(t *testing.T) string // a new, empty database's DSN
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "t.db") }},
		{"postgres", func(t *testing.T) string { return testenv.Postgres(t) }},
	}
	tests := []struct {
		name string
		run  func(t *testing.T, dsn string)
	}{
		{"ApplyOnceAppliesAnEventIDOnlyOnce", testApplyOnce},
		{"ApplyOnceRecordsNothingWhenApplyFails", testApplyOnceFailure},
		{"ConcurrentDeliveriesOfOneEventApplyItOnce", testConcurrentApplyOnce},
		{"MigrationsRunOnceAndRefuseANewerSchema", testMigrations},
		{"InstancesMigratingAtOnceRunEachMigrationOnce", testConcurrentMigrations},
		{"AttachConsumerStartsFromTheFirstEventOnlyOnce", testAttachConsumer},
		{"InstancesAttachingAtOnceResetTheConsumerOnce", testConcurrentAttach},
		{"UniqueViolationIsRecognised", testUniqueViolation},
		{"WithLockSerialisesReadModifyWrite", testWithLock},
		{"PlaceholdersBindByNumber", testPlaceholders},
		{"GroupedTransactionsEachCommitOrFailAlone", testGroup},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, e.newDB(t)) })
			}
		})
	}
}

// counterSchema is a schema with the processed-events tables and a counter.
var counterSchema = []store.Migration{
	store.ProcessedSchema,
	{
		SQLite:   `CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);`,
		Postgres: `CREATE TABLE counter (n BIGINT NOT NULL); INSERT INTO counter VALUES (0);`,
	},
}

func open(t *testing.T, dsn string, migrations []store.Migration) *sql.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT n FROM counter`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func increment(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE counter SET n = n + 1`)
	return err
}

func testApplyOnce(t *testing.T, dsn string) {
	db := open(t, dsn, counterSchema)
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		applied, err := store.ApplyOnce(ctx, newGroup(t, db), "event-1", increment)
		if err != nil || applied != want {
			t.Fatalf("delivery %d: applied=%v err=%v; want applied=%v", i+1, applied, err, want)
		}
	}
	if _, err := store.ApplyOnce(ctx, newGroup(t, db), "event-2", increment); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("counter = %d after two distinct events delivered four times, want 2", n)
	}
}

func testApplyOnceFailure(t *testing.T, dsn string) {
	db := open(t, dsn, counterSchema)
	ctx := context.Background()
	boom := errors.New("boom")
	_, err := store.ApplyOnce(ctx, newGroup(t, db), "event-1", func(ctx context.Context, tx *sql.Tx) error {
		if err := increment(ctx, tx); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if n := count(t, db); n != 0 {
		t.Fatalf("a failed apply left its change behind: counter = %d", n)
	}
	applied, err := store.ApplyOnce(ctx, newGroup(t, db), "event-1", increment) // the redelivery
	if err != nil || !applied || count(t, db) != 1 {
		t.Fatalf("redelivery after a failure: applied=%v err=%v counter=%d; want applied once", applied, err, count(t, db))
	}
}

// testConcurrentApplyOnce hands the same events to two instances (two
// handles on one database) at once, as a redelivery to a second instance
// does: each event takes effect exactly once.
func testConcurrentApplyOnce(t *testing.T, dsn string) {
	a := open(t, dsn, counterSchema)
	b := open(t, dsn, counterSchema)
	ctx := context.Background()
	const events, deliveries = 20, 4
	var applied atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, events*deliveries)
	for i := range events * deliveries {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() {
			ok, err := store.ApplyOnce(ctx, newGroup(t, db), fmt.Sprintf("event-%d", i%events), increment)
			if err != nil {
				errs <- err
			}
			if ok {
				applied.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if applied.Load() != events || count(t, a) != events {
		t.Fatalf("%d events delivered %d times each over two instances: applied %d, counter %d; want %d",
			events, deliveries, applied.Load(), count(t, a), events)
	}
}

func testMigrations(t *testing.T, dsn string) {
	ctx := context.Background()
	migs := []store.Migration{
		{SQLite: `CREATE TABLE a (x INTEGER)`, Postgres: `CREATE TABLE a (x INTEGER)`},
		{SQLite: `CREATE TABLE b (y INTEGER)`, Postgres: `CREATE TABLE b (y INTEGER)`},
	}
	for range 2 { // the second open must not re-run them (CREATE TABLE would fail)
		db, err := store.Open(ctx, dsn, migs)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	if _, err := store.Open(ctx, dsn, migs[:1]); err == nil {
		t.Fatal("an older binary opened a database with a newer schema")
	}
	if _, err := store.Open(ctx, dsn, append(migs, store.Migration{SQLite: `CREATE TABLE c (`, Postgres: `CREATE TABLE c (`})); err == nil {
		t.Fatal("a broken migration was reported as applied")
	}
	db := open(t, dsn, migs) // the failed migration left nothing behind
	if _, err := db.Exec(`INSERT INTO b (y) VALUES (1)`); err != nil {
		t.Fatalf("after a failed migration, the applied ones are gone: %v", err)
	}
}

// testConcurrentMigrations starts four instances on one new database at
// once: every one opens it, and each migration ran once (a second run of
// the INSERT would make the count 2).
func testConcurrentMigrations(t *testing.T, dsn string) {
	migs := []store.Migration{
		{SQLite: `CREATE TABLE once (n INTEGER NOT NULL)`, Postgres: `CREATE TABLE once (n INTEGER NOT NULL)`},
		{SQLite: `INSERT INTO once VALUES (1)`, Postgres: `INSERT INTO once VALUES (1)`},
	}
	var wg sync.WaitGroup
	dbs := make([]*sql.DB, 4)
	errs := make([]error, 4)
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = store.Open(context.Background(), dsn, migs) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var rows int
	if err := dbs[0].QueryRow(`SELECT count(*) FROM once`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("the INSERT migration ran %d times (err %v), want once", rows, err)
	}
}

func testAttachConsumer(t *testing.T, dsn string) {
	db := open(t, dsn, counterSchema)
	ctx := context.Background()
	attach := func() (fromStart bool, err error) {
		err = store.AttachConsumer(ctx, db, "query", func(f bool) error { fromStart = f; return nil })
		return fromStart, err
	}
	boom := errors.New("bus down")
	if err := store.AttachConsumer(ctx, db, "query", func(bool) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing subscribe: %v, want its error", err)
	}
	for i, want := range []bool{true, false, false} { // the failed attach recorded nothing
		if fromStart, err := attach(); err != nil || fromStart != want {
			t.Fatalf("attach %d: fromStart=%v err=%v; want fromStart=%v", i+1, fromStart, err, want)
		}
	}
	var other bool
	if err := store.AttachConsumer(ctx, db, "other", func(f bool) error { other = f; return nil }); err != nil || !other {
		t.Fatalf("another consumer on the same database: fromStart=%v err=%v; want true", other, err)
	}
}

// testConcurrentAttach attaches one consumer from four instances at once:
// only one of them starts it from the first event (which resets the durable
// consumer); the others join it.
func testConcurrentAttach(t *testing.T, dsn string) {
	open(t, dsn, counterSchema)
	var resets atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		db := open(t, dsn, counterSchema)
		wg.Go(func() {
			errs <- store.AttachConsumer(context.Background(), db, "orders", func(fromStart bool) error {
				if fromStart {
					resets.Add(1)
				}
				return nil
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if resets.Load() != 1 {
		t.Fatalf("%d instances started the consumer from the first event, want exactly 1", resets.Load())
	}
}

func testUniqueViolation(t *testing.T, dsn string) {
	db := open(t, dsn, []store.Migration{{
		SQLite:   `CREATE TABLE u (email TEXT NOT NULL); CREATE UNIQUE INDEX u_email ON u (lower(email));`,
		Postgres: `CREATE TABLE u (email TEXT NOT NULL); CREATE UNIQUE INDEX u_email ON u (lower(email));`,
	}})
	if _, err := db.Exec(`INSERT INTO u (email) VALUES ($1)`, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec(`INSERT INTO u (email) VALUES ($1)`, "ANN@example.com")
	if !store.IsUniqueViolation(err) {
		t.Fatalf("duplicate email: %v, want a unique violation", err)
	}
	if _, err := db.Exec(`INSERT INTO nope VALUES (1)`); err == nil || store.IsUniqueViolation(err) {
		t.Fatalf("a missing table: %v, want an error that is not a unique violation", err)
	}
}

// testWithLock runs read-modify-write transactions from two instances at
// once under one lock: no update is lost.
func testWithLock(t *testing.T, dsn string) {
	dbs := []*sql.DB{open(t, dsn, counterSchema), open(t, dsn, counterSchema)}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		db := dbs[i%2]
		wg.Go(func() {
			errs <- store.WithLock(context.Background(), db, "counter", func(tx *sql.Tx) error {
				var v int
				if err := tx.QueryRow(`SELECT n FROM counter`).Scan(&v); err != nil {
					return err
				}
				_, err := tx.Exec(`UPDATE counter SET n = $1`, v+1)
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := count(t, dbs[0]); got != n {
		t.Fatalf("counter = %d after %d locked increments, want %d (updates lost)", got, n, n)
	}
}

// testPlaceholders: services write $n placeholders, in any order, on both
// engines.
func testPlaceholders(t *testing.T, dsn string) {
	db := open(t, dsn, []store.Migration{{
		SQLite:   `CREATE TABLE p (a TEXT, b INTEGER)`,
		Postgres: `CREATE TABLE p (a TEXT, b BIGINT)`,
	}})
	if _, err := db.Exec(`INSERT INTO p (b, a) VALUES ($2, $1)`, "x", int64(7)); err != nil {
		t.Fatal(err)
	}
	var a string
	var b int64
	if err := db.QueryRow(`SELECT a, b FROM p WHERE b = $2 AND a = $1`, "x", int64(7)).Scan(&a, &b); err != nil || a != "x" || b != 7 {
		t.Fatalf("read back a=%q b=%d err=%v, want x 7", a, b, err)
	}
}

// TestSQLiteDatabaseFromBeforeGooseIsAdopted: a database whose migrations
// were counted in PRAGMA user_version (Herald before goose) opens without
// running them again, and later migrations run.
func TestSQLiteDatabaseFromBeforeGooseIsAdopted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1); PRAGMA user_version = 1;`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db := open(t, path, []store.Migration{{SQLite: `CREATE TABLE a (x INTEGER)`}, {SQLite: `CREATE TABLE b (y INTEGER)`}})
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM a`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("table a after adoption: %d rows (err %v), want its 1 row kept", n, err)
	}
	if _, err := db.Exec(`INSERT INTO b VALUES (1)`); err != nil {
		t.Fatalf("migration 2 did not run after adoption: %v", err)
	}
}

// TestSQLiteOnlySchemaIsRefusedOnPostgres: a query service's read model has
// no PostgreSQL schema; pointing it at PostgreSQL fails at once, saying so.
func TestSQLiteOnlySchemaIsRefusedOnPostgres(t *testing.T) {
	dsn := testenv.Postgres(t)
	_, err := store.Open(context.Background(), dsn, []store.Migration{{SQLite: `CREATE TABLE a (x INTEGER)`}})
	if err == nil || !strings.Contains(err.Error(), "SQLite only") || !strings.Contains(err.Error(), "file path") {
		t.Fatalf("SQLite-only schema on PostgreSQL: %v, want an error saying to give a file path", err)
	}
}

// testGroup runs many transactions at once through a Group: each that
// succeeds is committed, each that fails (or panics) leaves nothing behind
// and gets its own error, and one whose caller gave up runs not at all. On
// SQLite they are committed in fewer database transactions than callers.
func testGroup(t *testing.T, dsn string) {
	db := open(t, dsn, []store.Migration{{
		SQLite:   `CREATE TABLE w (i INTEGER PRIMARY KEY)`,
		Postgres: `CREATE TABLE w (i INTEGER PRIMARY KEY)`,
	}})
	g := newGroup(t, db)
	const n = 120
	boom := errors.New("boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ctx := context.Background()
		if i == 7 {
			ctx = cancelled
		}
		wg.Go(func() {
			errs[i] = g.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO w (i) VALUES ($1)`, i); err != nil {
					return err
				}
				switch {
				case i%10 == 3:
					return fmt.Errorf("write %d: %w", i, boom)
				case i == 55:
					panic("in the middle of a group")
				}
				return nil
			})
		})
	}
	wg.Wait()
	var want []int
	for i, err := range errs {
		switch {
		case i == 7:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("write %d with its context cancelled: %v, want context.Canceled", i, err)
			}
		case i%10 == 3:
			if !errors.Is(err, boom) {
				t.Errorf("write %d: %v, want its own error", i, err)
			}
		case i == 55:
			if err == nil || !strings.Contains(err.Error(), "panicked") {
				t.Errorf("write %d: %v, want the panic as its error", i, err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			want = append(want, i)
		}
	}
	rows, err := db.Query(`SELECT i FROM w ORDER BY i`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			t.Fatal(err)
		}
		got = append(got, i)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows written %v, want exactly the writes that succeeded %v", got, want)
	}
	if c := store.GroupCommits(g); store.DialectOf(db) == store.SQLite && (c == 0 || c >= n) {
		t.Errorf("%d writes at once took %d commits, want fewer (grouped)", n, c)
	}

	// One at a time, each transaction is a group of its own.
	ctx := context.Background()
	insert := func(i int) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO w (i) VALUES ($1)`, i)
			return err
		}
	}
	if err := g.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { insert(1000)(ctx, tx); return boom }); !errors.Is(err, boom) {
		t.Errorf("a lone failing write: %v, want its error", err)
	}
	if err := g.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { insert(1001)(ctx, tx); panic("alone") }); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Errorf("a lone panicking write: %v, want the panic as its error", err)
	}
	if err := g.InTx(ctx, insert(1002)); err != nil {
		t.Errorf("a lone write: %v", err)
	}
	var lone []int
	rows2, err := db.Query(`SELECT i FROM w WHERE i >= 1000 ORDER BY i`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var i int
		rows2.Scan(&i)
		lone = append(lone, i)
	}
	if fmt.Sprint(lone) != "[1002]" {
		t.Errorf("lone writes left rows %v, want only the one that succeeded [1002]", lone)
	}
}

// newGroup returns a Group on db that is closed when the test ends, before
// db is (if db was opened first), so that no checkpoint outlives the test's
// temporary directory.
func newGroup(t testing.TB, db *sql.DB) *store.Group {
	g := store.NewGroup(db)
	t.Cleanup(g.Close)
	return g
}

// A database opened with NoSync (herald up --no-fsync) commits without an
// fsync, SQLite's synchronous=NORMAL; by default every commit is fsynced.
func TestNoSyncRelaxesOnlyTheDatabaseItOpens(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		o    store.Options
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{"full.db", store.Options{}, 2}, {"relaxed.db", store.Options{NoSync: true}, 1}} {
		db, err := store.OpenWith(context.Background(), filepath.Join(dir, c.name), nil, c.o)
		if err != nil {
			t.Fatal(err)
		}
		// Every connection of the pool must have it, not just the first.
		conns := make([]*sql.Conn, 3)
		for i := range conns {
			if conns[i], err = db.Conn(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got int
			if err := conns[i].QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s, connection %d: synchronous = %d, want %d", c.name, i, got, c.want)
			}
		}
		for _, conn := range conns {
			conn.Close()
		}
		db.Close()
	}
}
