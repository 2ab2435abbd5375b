package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// DefaultPostgres is the server tests use when HERALD_TEST_POSTGRES is not
// set: the local one, as the role .ci/run creates (herald, password herald,
// allowed to create databases).
const DefaultPostgres = "postgres://herald:herald@127.0.0.1:5432/postgres?sslmode=disable"

var pgAdmin struct {
	once sync.Once
	url  string
	err  error
}

// PostgresServer returns the URL of the PostgreSQL server tests use:
// HERALD_TEST_POSTGRES, a URL of a database from which the test user may
// create databases, or DefaultPostgres. Without a reachable server the test
// is skipped, saying why, unless HERALD_TEST_POSTGRES_REQUIRED=1 (.ci/run
// sets it), when it fails instead.
func PostgresServer(t testing.TB) string {
	t.Helper()
	pgAdmin.once.Do(func() {
		pgAdmin.url = os.Getenv("HERALD_TEST_POSTGRES")
		if pgAdmin.url == "" {
			pgAdmin.url = DefaultPostgres
		}
		db, err := openPostgres(pgAdmin.url)
		if err != nil {
			pgAdmin.err = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pgAdmin.err = db.PingContext(ctx)
	})
	if pgAdmin.err != nil {
		msg := "no PostgreSQL server at " + redactURL(pgAdmin.url) + " (" + pgAdmin.err.Error() + "); set HERALD_TEST_POSTGRES to one, or run .ci/run, which starts one"
		if os.Getenv("HERALD_TEST_POSTGRES_REQUIRED") == "1" {
			t.Fatal(msg)
		}
		t.Skip("skipped: " + msg)
	}
	return pgAdmin.url
}

// Postgres creates a new, empty database on PostgresServer for this test
// and returns its URL; the database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := PostgresServer(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "herald_test_" + hex.EncodeToString(b)
	db, err := openPostgres(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func openPostgres(raw string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	return u.Redacted()
}
