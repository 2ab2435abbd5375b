// Package workload runs Herald's SQLite workloads (the query service's
// consumer catching up, the orders service's write path, reads of the
// query service's order lines) on any database/sql SQLite driver, so that
// one benchmark measures modernc.org/sqlite, github.com/ncruces/go-sqlite3
// and github.com/mattn/go-sqlite3 alike. It imports no driver: each driver
// has a package of its own (two of them register "sqlite3", so they cannot
// share a binary) that hands this one a Driver.
package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sync is the synchronous mode a writing workload runs with. In WAL mode
// FULL fsyncs the log at every commit (Herald's default); NORMAL fsyncs only
// at checkpoints (Herald's --no-fsync).
type Sync string

// The synchronous modes; their values are what PRAGMA synchronous reports.
const (
	SyncFull   Sync = "FULL"
	SyncNormal Sync = "NORMAL"
)

// Settings are what a DSN must ask of every connection, the values
// store.OpenSQLite asks for unless said otherwise.
type Settings struct {
	Sync Sync
	// BusyTimeout in milliseconds; Herald's is 10000. The transaction
	// lock check opens a second pool with 0.
	BusyTimeout int
}

// Herald's settings, besides Sync and BusyTimeout (see store/sqlite.go).
const (
	JournalMode       = "wal"
	WALAutocheckpoint = 10000 // pages
	heraldBusyTimeout = 10000 // ms
	poolSize          = 4     // store.OpenSQLite's SetMaxOpenConns
)

// Driver is one database/sql SQLite driver, configured by its own DSN
// syntax.
type Driver struct {
	// Name is the database/sql driver name to open.
	Name string
	// DSN returns the data source name that opens the database file at
	// path with s and Herald's other settings: WAL journal, foreign keys
	// on, wal_autocheckpoint 10000, and transactions that begin
	// IMMEDIATE.
	DSN func(path string, s Settings) string
}

// Open opens a pool of Herald's size on the database file at path with
// Herald's settings and s.Sync, and checks on every connection of the pool
// that they took effect: journal_mode, synchronous, busy_timeout,
// foreign_keys and wal_autocheckpoint as asked, and that a transaction
// takes the write lock at BEGIN. It returns an error naming the first
// setting that did not.
func Open(ctx context.Context, d Driver, path string, sync Sync) (*sql.DB, error) {
	db, err := sql.Open(d.Name, d.DSN(path, Settings{Sync: sync, BusyTimeout: heraldBusyTimeout}))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	if err := verify(ctx, db, sync); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s, %s: %w", d.Name, d.DSN(path, Settings{Sync: sync, BusyTimeout: heraldBusyTimeout}), err)
	}
	if err := verifyImmediate(ctx, d, db, path, sync); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	return db, nil
}

// verify checks the pragmas on every connection of db's pool: it holds
// poolSize connections at once, so each is a different one.
func verify(ctx context.Context, db *sql.DB, sync Sync) error {
	want := map[Sync]int{SyncFull: 2, SyncNormal: 1}[sync]
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range poolSize {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		var mode string
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			return fmt.Errorf("PRAGMA journal_mode: %w", err)
		}
		if !strings.EqualFold(mode, JournalMode) {
			return fmt.Errorf("journal_mode is %q, want %q", mode, JournalMode)
		}
		for _, p := range []struct {
			pragma string
			want   int
		}{{"synchronous", want}, {"busy_timeout", heraldBusyTimeout}, {"foreign_keys", 1}, {"wal_autocheckpoint", WALAutocheckpoint}} {
			var got int
			if err := c.QueryRowContext(ctx, `PRAGMA `+p.pragma).Scan(&got); err != nil {
				return fmt.Errorf("PRAGMA %s: %w", p.pragma, err)
			}
			if got != p.want {
				return fmt.Errorf("%s is %d, want %d", p.pragma, got, p.want)
			}
		}
	}
	return nil
}

// verifyImmediate checks that a transaction of db holds the write lock
// from its BEGIN, before any statement: while one is open, BEGIN IMMEDIATE
// on another pool, without a busy timeout, must fail at once.
func verifyImmediate(ctx context.Context, d Driver, db *sql.DB, path string, sync Sync) error {
	other, err := sql.Open(d.Name, d.DSN(path, Settings{Sync: sync, BusyTimeout: 0}))
	if err != nil {
		return err
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	c, err := other.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	_, err = c.ExecContext(ctx, `BEGIN IMMEDIATE`)
	if err == nil {
		c.ExecContext(ctx, `ROLLBACK`)
		return errors.New("transactions do not begin IMMEDIATE: another writer could begin while one was open")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "locked") && !strings.Contains(strings.ToLower(err.Error()), "busy") {
		return fmt.Errorf("checking the transaction lock: %w", err)
	}
	if time.Since(start) > time.Second {
		return fmt.Errorf("a BEGIN IMMEDIATE without busy timeout waited %v", time.Since(start))
	}
	return nil
}

// Version returns the SQLite version db runs.
func Version(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&v)
	return v, err
}
