package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldev/herald/internal/failpoint"
)

// ProcessedSchema creates the tables that record every event a consumer has
// applied and every durable consumer this database has been fed by. Include
// it in the migrations of every service that consumes events.
var ProcessedSchema = Migration{
	SQLite: `
CREATE TABLE processed_events (
	event_id     TEXT PRIMARY KEY,
	processed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
) WITHOUT ROWID;
CREATE TABLE consumers (
	name        TEXT PRIMARY KEY,
	attached_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
) WITHOUT ROWID;`,
	Postgres: `
CREATE TABLE processed_events (
	event_id     TEXT PRIMARY KEY,
	processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE consumers (
	name        TEXT PRIMARY KEY,
	attached_at TIMESTAMPTZ NOT NULL DEFAULT now()
);`,
}

// AttachConsumer runs subscribe for the durable consumer name, telling it
// whether to start from the stream's first event: it must when this database
// has never been fed by name (the database is new, or was reset, and has
// seen nothing), whatever progress the bus remembers for that name. Once
// subscribe succeeds the consumer is recorded, so the next start resumes.
//
// Instances of a service that share a PostgreSQL database attach one at a
// time (an advisory lock), so only the first of them resets the consumer;
// the others join it.
func AttachConsumer(ctx context.Context, db *sql.DB, name string, subscribe func(fromStart bool) error) error {
	return WithLock(ctx, db, "herald.consumer."+name, func(tx *sql.Tx) error {
		var known bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM consumers WHERE name = $1)`, name).Scan(&known); err != nil {
			return fmt.Errorf("look up consumer %s: %w", name, err)
		}
		if err := subscribe(!known); err != nil {
			return err
		}
		if known {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumers (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
			return fmt.Errorf("record consumer %s: %w", name, err)
		}
		return nil
	})
}

// ApplyEachOnce is ApplyOnce for several events in one transaction: for each
// i of eventIDs not recorded yet, it records it and runs apply(ctx, tx, i),
// ctx being the statement context of Group.InTx. It
// returns which were applied (the others were duplicates). If any apply
// fails, nothing is recorded and the error is returned.
func ApplyEachOnce(ctx context.Context, g *Group, eventIDs []string, apply func(ctx context.Context, tx *sql.Tx, i int) error) (applied []bool, err error) {
	err = g.InTx(ctx, func(sctx context.Context, tx *sql.Tx) error {
		applied = make([]bool, len(eventIDs))
		now := time.Now().UTC().Format(time.RFC3339Nano)
		record, err := tx.PrepareContext(sctx, `INSERT INTO processed_events (event_id, processed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`)
		if err != nil {
			return fmt.Errorf("record events: %w", err)
		}
		defer record.Close()
		for i, id := range eventIDs {
			res, err := record.ExecContext(sctx, id, now)
			if err != nil {
				return fmt.Errorf("record event %s: %w", id, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue
			}
			if err := apply(sctx, tx, i); err != nil {
				return err
			}
			applied[i] = true
		}
		failpoint.Inject(failpoint.ConsumerBeforeCommit)
		return nil
	})
	if err != nil {
		return nil, err
	}
	failpoint.Inject(failpoint.ConsumerAfterCommit)
	return applied, nil
}

// ApplyOnce runs apply and records eventID in one transaction, through g.
// If eventID was already recorded, apply does not run and ApplyOnce returns
// applied=false and a nil error: the caller should acknowledge the
// duplicate. If apply fails, nothing is recorded and its error is returned,
// so a redelivery tries again.
//
// Two instances handed the same event at once (a redelivery) are safe: the
// second waits on the first's row and, once it commits, sees the duplicate.
func ApplyOnce(ctx context.Context, g *Group, eventID string, apply func(ctx context.Context, tx *sql.Tx) error) (applied bool, err error) {
	done, err := ApplyEachOnce(ctx, g, []string{eventID}, func(ctx context.Context, tx *sql.Tx, _ int) error { return apply(ctx, tx) })
	if err != nil {
		return false, err
	}
	return done[0], nil
}
