package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// OpenPostgres connects to the PostgreSQL database at url (pgx, through
// database/sql) and applies the migrations that have not run yet. Several
// instances may start on one database at once: migrations run under a
// PostgreSQL advisory lock, one instance at a time, and each runs once.
//
// The error names the database without its password.
func OpenPostgres(ctx context.Context, url string, migrations []Migration) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		// A server that accepts the connection and then says nothing would
		// otherwise hold every later connection attempt (a reconnect after
		// a failover) as long as the caller's context allows, which for a
		// request on the hot path is no bound at all.
		cfg.ConnectTimeout = 5 * time.Second
	}
	where := fmt.Sprintf("postgres database %s on %s:%d", cfg.Database, cfg.Host, cfg.Port)
	for i, m := range migrations {
		if m.Postgres == "" {
			return nil, fmt.Errorf("open %s: this service keeps its data in SQLite only (migration %d has no PostgreSQL schema); give it a file path", where, i+1)
		}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w; is it running, and does the database exist?", where, err)
	}
	if err := migrate(ctx, db, Postgres, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", where, err)
	}
	return db, nil
}
