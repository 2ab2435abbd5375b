package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldev/herald/internal/failpoint"
)

// ProcessedSchema creates the tables that record every event a consumer has
// applied and every durable consumer this database has been fed by. Include
// it in the migrations of every service that consumes events.
const ProcessedSchema = `
CREATE TABLE processed_events (
	event_id     TEXT PRIMARY KEY,
	processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
) WITHOUT ROWID;
CREATE TABLE consumers (
	name        TEXT PRIMARY KEY,
	attached_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
) WITHOUT ROWID;`

// ConsumerKnown reports whether this database has been fed by the durable
// consumer name before. A consumer it does not know must start from the
// stream's first event, whatever progress the bus remembers for that name:
// the database is new (or was reset) and has seen nothing.
func ConsumerKnown(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var known bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM consumers WHERE name = ?)`, name).Scan(&known); err != nil {
		return false, fmt.Errorf("look up consumer %s: %w", name, err)
	}
	return known, nil
}

// RecordConsumer records that the durable consumer name feeds this database.
func RecordConsumer(ctx context.Context, db *sql.DB, name string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO consumers (name) VALUES (?) ON CONFLICT DO NOTHING`, name); err != nil {
		return fmt.Errorf("record consumer %s: %w", name, err)
	}
	return nil
}

// ApplyOnce runs apply and records eventID in one transaction. If eventID was
// already recorded, apply does not run and ApplyOnce returns applied=false and
// a nil error: the caller should acknowledge the duplicate. If apply fails,
// nothing is recorded and its error is returned, so a redelivery tries again.
func ApplyOnce(ctx context.Context, db *sql.DB, eventID string, apply func(*sql.Tx) error) (applied bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	res, err := tx.ExecContext(ctx, `INSERT INTO processed_events (event_id) VALUES (?) ON CONFLICT DO NOTHING`, eventID)
	if err != nil {
		return false, fmt.Errorf("record event %s: %w", eventID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	if err := apply(tx); err != nil {
		return false, err
	}
	failpoint.Inject(failpoint.ConsumerBeforeCommit)
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit event %s: %w", eventID, err)
	}
	failpoint.Inject(failpoint.ConsumerAfterCommit)
	return true, nil
}
