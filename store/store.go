// Package store opens a service's private database, SQLite or PostgreSQL,
// applies its migrations, and holds the pieces every service's schema
// shares: the processed-events table that makes consumers idempotent, and
// the locks that let several instances of a service share one PostgreSQL
// database.
//
// Services write SQL both engines speak: `$1`-style placeholders (SQLite
// reads them too), `ON CONFLICT`, `RETURNING`, and conditional UPDATEs rather
// than read-then-write, so a statement is safe under PostgreSQL's READ
// COMMITTED as well as under SQLite's single writer. Only the schema differs
// per engine (see Migration).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the SQL engine behind a database.
type Dialect string

// The engines Herald stores data in.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Migration is one step of a service's schema, written once per engine. An
// empty Postgres means the service keeps its data in SQLite only (a query
// service's local read model); opening it on PostgreSQL is an error.
type Migration struct {
	SQLite   string
	Postgres string
}

// IsPostgresURL reports whether dsn names a PostgreSQL database
// (postgres:// or postgresql://) rather than a SQLite file.
func IsPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database dsn names, a postgres:// URL or a SQLite file
// path, and applies the migrations that have not run yet (see OpenSQLite and
// OpenPostgres).
func Open(ctx context.Context, dsn string, migrations []Migration) (*sql.DB, error) {
	return OpenWith(ctx, dsn, migrations, Options{})
}

// Options are how a database is opened.
type Options struct {
	// NoSync commits to a SQLite database without an fsync (WAL with
	// synchronous=NORMAL; checkpoints still fsync): a process crash loses
	// nothing, an OS crash or power loss can lose the last commits. It is
	// the services' half of herald up --no-fsync. PostgreSQL ignores it:
	// its durability is the server's configuration.
	NoSync bool
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, migrations []Migration, o Options) (*sql.DB, error) {
	if IsPostgresURL(dsn) {
		return OpenPostgres(ctx, dsn, migrations)
	}
	return openSQLite(ctx, dsn, migrations, o)
}

// DialectOf returns the engine behind db, from its driver.
func DialectOf(db *sql.DB) Dialect {
	if _, ok := db.Driver().(*stdlib.Driver); ok {
		return Postgres
	}
	return SQLite
}

// IsUniqueViolation reports whether err is a unique constraint refusing a
// row, on either engine. Services turn it into an EConflict error: on
// PostgreSQL, two instances can pass the same "does it exist?" check at once,
// and the constraint is the one that decides.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		return sqlErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || sqlErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Querier is what both *sql.DB and *sql.Tx offer.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// InTx runs fn in a transaction and commits it if fn returns nil; otherwise
// it rolls back and returns fn's error unchanged.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Unreachable reports whether err says the database could not be reached or
// the connection was lost, rather than that a statement failed (the HTTP
// layer answers such errors with 503: retry later): a refused or
// broken connection, or PostgreSQL shutting down or refusing connections.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: admin shutdown,
		// crash shutdown, cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	// SafeToRetry: pgx did not send the statement (its connection was
	// closed or broken first), so nothing was written.
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || pgconn.Timeout(err) || pgconn.SafeToRetry(err)
}

// ScanTime converts a timestamp column as the drivers return it (a
// time.Time from PostgreSQL, RFC 3339 text from SQLite) into a time.
func ScanTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		return time.Parse(time.RFC3339Nano, t)
	case []byte:
		return time.Parse(time.RFC3339Nano, string(t))
	case nil:
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("timestamp of type %T", v)
}

// Describe names the database dsn opens for a person: the SQLite file, or
// the PostgreSQL URL without its password.
func Describe(dsn string) string {
	if !IsPostgresURL(dsn) {
		return "sqlite:" + dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres"
	}
	return u.Redacted()
}

// AppliedAt returns when this database's consumers applied event id (its
// processed_events row), and whether they have.
func AppliedAt(ctx context.Context, db *sql.DB, id string) (time.Time, bool, error) {
	return TimeOf(ctx, db, `SELECT processed_at FROM processed_events WHERE event_id = $1`, id)
}

// TimeOf runs query, which selects one timestamp column of the row of
// event id, and returns it and whether there is such a row.
func TimeOf(ctx context.Context, db *sql.DB, query, id string) (time.Time, bool, error) {
	var v any
	err := db.QueryRowContext(ctx, query, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("look up event %s: %w", id, err)
	}
	t, err := ScanTime(v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("look up event %s: %w", id, err)
	}
	return t, true, nil
}
