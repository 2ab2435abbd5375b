package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/store"
)

func openTest(t *testing.T) *sql.DB {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"),
		[]string{store.ProcessedSchema, `CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);`})
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

func increment(tx *sql.Tx) error {
	_, err := tx.Exec(`UPDATE counter SET n = n + 1`)
	return err
}

func TestApplyOnceAppliesAnEventIDOnlyOnce(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		applied, err := store.ApplyOnce(ctx, db, "event-1", increment)
		if err != nil || applied != want {
			t.Fatalf("delivery %d: applied=%v err=%v; want applied=%v", i+1, applied, err, want)
		}
	}
	if _, err := store.ApplyOnce(ctx, db, "event-2", increment); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 2 {
		t.Fatalf("counter = %d after two distinct events delivered four times, want 2", n)
	}
}

func TestApplyOnceRecordsNothingWhenApplyFails(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	boom := errors.New("boom")
	_, err := store.ApplyOnce(ctx, db, "event-1", func(tx *sql.Tx) error {
		if err := increment(tx); err != nil {
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
	applied, err := store.ApplyOnce(ctx, db, "event-1", increment) // the redelivery
	if err != nil || !applied || count(t, db) != 1 {
		t.Fatalf("redelivery after a failure: applied=%v err=%v counter=%d; want applied once", applied, err, count(t, db))
	}
}

func TestMigrationsRunOnceAndRefuseANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	migs := []string{`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (y INTEGER)`}
	for range 2 { // the second open must not re-run them (CREATE TABLE would fail)
		db, err := store.OpenSQLite(ctx, path, migs)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	if _, err := store.OpenSQLite(ctx, path, migs[:1]); err == nil {
		t.Fatal("an older binary opened a database with a newer schema")
	}
}

func TestConsumerKnownOnlyAfterRecord(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if known, err := store.ConsumerKnown(ctx, db, "query"); err != nil || known {
		t.Fatalf("fresh db: known=%v err=%v", known, err)
	}
	if err := store.RecordConsumer(ctx, db, "query"); err != nil {
		t.Fatal(err)
	}
	if known, err := store.ConsumerKnown(ctx, db, "query"); err != nil || !known {
		t.Fatalf("after record: known=%v err=%v", known, err)
	}
}
