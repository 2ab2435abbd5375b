package store

import (
	"context"
	"database/sql"
	"fmt"
)

// WithLock runs fn in a transaction that, on PostgreSQL, first takes the
// exclusive advisory lock named key, waiting for any other holder, and
// releases it when the transaction ends. Instances of a service that share
// one database serialise work with it. On SQLite the transaction itself is
// exclusive (it starts IMMEDIATE), so no lock is needed.
func WithLock(ctx context.Context, db *sql.DB, key string, fn func(*sql.Tx) error) error {
	return InTx(ctx, db, func(tx *sql.Tx) error {
		if DialectOf(db) == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
				return fmt.Errorf("lock %s: %w", key, err)
			}
		}
		return fn(tx)
	})
}

// TryLock takes the PostgreSQL advisory lock named key for the rest of tx
// if no other transaction holds it, and reports whether it did. It never
// waits. Call it only on a PostgreSQL transaction.
func TryLock(ctx context.Context, tx *sql.Tx, key string) (bool, error) {
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))`, key).Scan(&ok); err != nil {
		return false, fmt.Errorf("try lock %s: %w", key, err)
	}
	return ok, nil
}
