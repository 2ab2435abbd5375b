package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/store"
)

// Migrations is the gateway database's schema, in order.
var Migrations = []store.Migration{
	{SQLite: `CREATE TABLE subscriptions (
		id            TEXT PRIMARY KEY,
		url           TEXT NOT NULL UNIQUE,
		types         TEXT NOT NULL,    -- JSON array; [] means every type
		format        TEXT NOT NULL,    -- tutorial | cloudevents
		secret        TEXT NOT NULL,    -- Standard Webhooks secret; '' means unsigned
		start_seq     INTEGER NOT NULL, -- first stream position delivered
		created_at    TEXT NOT NULL,
		configured_by TEXT NOT NULL     -- flag | api
	);`},
}

// Delivery formats.
const (
	FormatTutorial    = "tutorial"    // body {type, data}, Content-Type application/json
	FormatCloudEvents = "cloudevents" // the structured CloudEvent, Content-Type application/cloudevents+json
)

// Who configured a subscription.
const (
	ByFlag = "flag"
	ByAPI  = "api"
)

// subscription is a push target: every blog event of Types (all if empty)
// from stream position StartSeq on is POSTed to URL in Format.
type subscription struct {
	ID           string
	URL          string
	Types        []string
	Format       string
	Secret       string // "" = unsigned; never shown by the API
	StartSeq     uint64
	CreatedAt    time.Time
	ConfiguredBy string
}

// Consumer returns the name of the subscription's durable consumer, under
// which its dead letters are listed.
func (s subscription) Consumer() string { return ConsumerPrefix + s.ID }

// subStore keeps subscriptions in the gateway's database. It is safe for
// concurrent use.
type subStore struct{ db *sql.DB }

// insert stores s. A subscription to the same URL is an EConflict error
// naming it.
func (st *subStore) insert(ctx context.Context, s subscription) error {
	types, err := json.Marshal(s.Types)
	if err != nil {
		return fmt.Errorf("encode types: %w", err)
	}
	return store.InTx(ctx, st.db, func(tx *sql.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM subscriptions WHERE url = ?`, s.URL).Scan(&id)
		if err == nil {
			return &herald.Error{Code: herald.EConflict, Field: "body.url",
				Message: fmt.Sprintf("%s is already subscribed (subscription %s); delete that one first to change it", s.URL, id)}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up subscription to %s: %w", s.URL, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (id, url, types, format, secret, start_seq, created_at, configured_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, s.ID, s.URL, string(types), s.Format, s.Secret, s.StartSeq,
			s.CreatedAt.UTC().Format(time.RFC3339Nano), s.ConfiguredBy)
		if err != nil {
			return fmt.Errorf("insert subscription %s: %w", s.ID, err)
		}
		return nil
	})
}

const subColumns = `id, url, types, format, secret, start_seq, created_at, configured_by`

type scanner interface{ Scan(dest ...any) error }

func scanSub(row scanner) (subscription, error) {
	var s subscription
	var types, created string
	if err := row.Scan(&s.ID, &s.URL, &types, &s.Format, &s.Secret, &s.StartSeq, &created, &s.ConfiguredBy); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(types), &s.Types); err != nil {
		return s, fmt.Errorf("subscription %s: decode types: %w", s.ID, err)
	}
	s.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return s, nil
}

// get returns the subscription id, or an ENotFound error.
func (st *subStore) get(ctx context.Context, id string) (subscription, error) {
	s, err := scanSub(st.db.QueryRowContext(ctx, `SELECT `+subColumns+` FROM subscriptions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, herald.Errorf(herald.ENotFound, "subscription %s does not exist; GET /subscriptions lists them", id)
	}
	if err != nil {
		return s, fmt.Errorf("get subscription %s: %w", id, err)
	}
	return s, nil
}

// list returns every subscription, oldest first.
func (st *subStore) list(ctx context.Context) ([]subscription, error) {
	rows, err := st.db.QueryContext(ctx, `SELECT `+subColumns+` FROM subscriptions ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	out := []subscription{}
	for rows.Next() {
		s, err := scanSub(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// setSecret changes the secret of subscription id.
func (st *subStore) setSecret(ctx context.Context, id, secret string) error {
	if _, err := st.db.ExecContext(ctx, `UPDATE subscriptions SET secret = ? WHERE id = ?`, secret, id); err != nil {
		return fmt.Errorf("update secret of subscription %s: %w", id, err)
	}
	return nil
}

// remove deletes subscription id; one that does not exist is not an error.
func (st *subStore) remove(ctx context.Context, id string) error {
	if _, err := st.db.ExecContext(ctx, `DELETE FROM subscriptions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete subscription %s: %w", id, err)
	}
	return nil
}
