package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go)
)

// OpenSQLite opens (creating if needed) the SQLite database at path in WAL
// mode with full fsync on commit, and applies the migrations that have not run
// yet (see migrate), one process at a time.
//
// Transactions start IMMEDIATE, so two writers wait for each other (up to the
// busy timeout) instead of failing on a lock upgrade.
func OpenSQLite(ctx context.Context, path string, migrations []Migration) (*sql.DB, error) {
	return openSQLite(ctx, path, migrations, Options{})
}

func openSQLite(ctx context.Context, path string, migrations []Migration, o Options) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create database dir: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	if o.NoSync {
		q.Add("_pragma", "synchronous(NORMAL)") // in WAL mode: only checkpoints fsync
	} else {
		q.Add("_pragma", "synchronous(FULL)")
	}
	// Writes through a Group are checkpointed beside the writer (see
	// checkpointEvery); the commit that fills the log this far checkpoints
	// it itself, should those fall behind or a write bypass the Group.
	q.Add("_pragma", "wal_autocheckpoint(10000)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	// Processes opening one file at once migrate it one at a time.
	unlock, err := lockFile(ctx, path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, db, SQLite, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return db, nil
}
