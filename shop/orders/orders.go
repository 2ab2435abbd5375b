// Package orders is the shop's ordering service. It owns the orders database,
// emits shop.order.created.v1 and shop.order.cancelled.v1, and keeps its own
// copy of the user and product ids it has heard of, fed only by events: it
// never calls the users or products services.
package orders

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/shop/orders"

// Order statuses.
const (
	StatusPlaced    = "placed"
	StatusCancelled = "cancelled"
)

// Migrations is the orders database schema, in order.
var Migrations = []store.Migration{
	outbox.Schema,
	store.ProcessedSchema,
	{
		SQLite: `CREATE TABLE known_users (id INTEGER PRIMARY KEY);
		CREATE TABLE known_products (id INTEGER PRIMARY KEY);
		CREATE TABLE orders (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			user_id    INTEGER NOT NULL,
			product_id INTEGER NOT NULL,
			status     TEXT NOT NULL,
			version    INTEGER NOT NULL,
			created_at TEXT NOT NULL
		);`,
		Postgres: `CREATE TABLE known_users (id BIGINT PRIMARY KEY);
		CREATE TABLE known_products (id BIGINT PRIMARY KEY);
		CREATE TABLE orders (
			id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			user_id    BIGINT NOT NULL,
			product_id BIGINT NOT NULL,
			status     TEXT NOT NULL,
			version    BIGINT NOT NULL,
			created_at TEXT NOT NULL
		);`,
	},
	{
		SQLite:   `CREATE INDEX orders_user ON orders (user_id, id);`,
		Postgres: `CREATE INDEX orders_user ON orders (user_id, id);`,
	},
}

// Order is a user's order of one product.
type Order struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"userId"`
	ProductID int64     `json:"productId"`
	Status    string    `json:"status" enum:"placed,cancelled"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
}

// Service takes orders. It is safe for concurrent use.
type Service struct {
	db     *sql.DB
	w      *outbox.Writer // commits changes with their events, and wakes the relay
	insert *sql.Stmt      // a new order, prepared once

	// The users and products orders' copy held at start or was found to
	// hold since. The copy only grows, so what it once held it holds for
	// good (also when other instances share the database): a hit needs no
	// query, and only an id not seen yet is looked up.
	mu       sync.RWMutex
	users    map[int64]struct{}
	products map[int64]struct{}
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(ctx context.Context, db *sql.DB, w *outbox.Writer) (*Service, error) {
	insert, err := db.PrepareContext(ctx,
		`INSERT INTO orders (user_id, product_id, status, version, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`)
	if err != nil {
		return nil, fmt.Errorf("prepare orders: %w", err)
	}
	s := &Service{db: db, w: w, insert: insert, users: map[int64]struct{}{}, products: map[int64]struct{}{}}
	for q, set := range map[string]map[int64]struct{}{`SELECT id FROM known_users`: s.users, `SELECT id FROM known_products`: s.products} {
		if err := loadIDs(ctx, db, q, set); err != nil {
			insert.Close()
			return nil, fmt.Errorf("load orders' copy of users and products: %w", err)
		}
	}
	return s, nil
}

func loadIDs(ctx context.Context, db *sql.DB, q string, into map[int64]struct{}) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		into[id] = struct{}{}
	}
	return rows.Err()
}

// Create places an order. The user and the product must be known to orders
// from their events; an unknown one is an EInvalid error naming it.
func (s *Service) Create(ctx context.Context, userID, productID int64) (Order, error) {
	// Checked before the transaction, on a reader: the copy only grows, so
	// what is known now is known at the commit too, and the one writer is
	// held only for the writes.
	if err := s.checkKnown(ctx, userID, productID); err != nil {
		return Order{}, err
	}
	o := Order{UserID: userID, ProductID: productID, Status: StatusPlaced, Version: 1, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.StmtContext(ctx, s.insert).QueryRowContext(ctx,
			o.UserID, o.ProductID, o.Status, o.Version, o.CreatedAt.Format(time.RFC3339Nano)).Scan(&o.ID); err != nil {
			return fmt.Errorf("create order: %w", err)
		}
		return emit(ctx, s.w, tx, event.OrderCreated, o)
	})
	return o, err
}

// checkKnown returns an EInvalid error naming userID or productID if orders'
// copy does not hold it.
func (s *Service) checkKnown(ctx context.Context, userID, productID int64) error {
	s.mu.RLock()
	_, user := s.users[userID]
	_, product := s.products[productID]
	s.mu.RUnlock()
	if !user || !product {
		if err := s.db.QueryRowContext(ctx,
			`SELECT EXISTS (SELECT 1 FROM known_users WHERE id = $1), EXISTS (SELECT 1 FROM known_products WHERE id = $2)`,
			userID, productID).Scan(&user, &product); err != nil {
			return fmt.Errorf("check user and product: %w", err)
		}
		s.mu.Lock()
		if user {
			s.users[userID] = struct{}{}
		}
		if product {
			s.products[productID] = struct{}{}
		}
		s.mu.Unlock()
	}
	switch {
	case !user:
		return herald.FieldError("body.userId", "user %d is unknown to orders (no shop.user.created event for it has arrived)", userID)
	case !product:
		return herald.FieldError("body.productId", "product %d is unknown to orders (no shop.product.created event for it has arrived)", productID)
	}
	return nil
}

// Cancel cancels an order and emits shop.order.cancelled.v1. Cancelling a
// cancelled order changes nothing and emits nothing. The change is one
// conditional UPDATE, so of two cancels racing (on two instances sharing a
// PostgreSQL database) exactly one emits.
func (s *Service) Cancel(ctx context.Context, id int64) (Order, error) {
	var o Order
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var created string
		err := tx.QueryRowContext(ctx, `
			UPDATE orders SET status = $2, version = version + 1
			WHERE id = $1 AND status = $3
			RETURNING id, user_id, product_id, status, version, created_at`, id, StatusCancelled, StatusPlaced).
			Scan(&o.ID, &o.UserID, &o.ProductID, &o.Status, &o.Version, &created)
		if errors.Is(err, sql.ErrNoRows) { // no such order, or cancelled already
			o, err = get(ctx, tx, id)
			return err
		}
		if err != nil {
			return fmt.Errorf("cancel order %d: %w", id, err)
		}
		o.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		return emit(ctx, s.w, tx, event.OrderCancelled, o)
	})
	return o, err
}

// ListByUser returns the orders of user userID, newest first: an empty,
// non-nil slice for a user without orders (or one orders has not heard of).
func (s *Service) ListByUser(ctx context.Context, userID int64) ([]Order, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, user_id, product_id, status, version, created_at FROM orders WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("orders of user %d: %w", userID, err)
	}
	defer rows.Close()
	out := []Order{}
	for rows.Next() {
		var o Order
		var created string
		if err := rows.Scan(&o.ID, &o.UserID, &o.ProductID, &o.Status, &o.Version, &created); err != nil {
			return nil, fmt.Errorf("orders of user %d: %w", userID, err)
		}
		o.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders of user %d: %w", userID, err)
	}
	return out, nil
}

// Get returns the order with id, or an ENotFound error.
func (s *Service) Get(ctx context.Context, id int64) (Order, error) { return get(ctx, s.db, id) }

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q queryer, id int64) (Order, error) {
	var o Order
	var created string
	err := q.QueryRowContext(ctx, `SELECT id, user_id, product_id, status, version, created_at FROM orders WHERE id = $1`, id).
		Scan(&o.ID, &o.UserID, &o.ProductID, &o.Status, &o.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Order{}, notFound(id)
	}
	if err != nil {
		return Order{}, fmt.Errorf("get order %d: %w", id, err)
	}
	o.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return o, nil
}

func emit(ctx context.Context, w *outbox.Writer, tx *sql.Tx, typ string, o Order) error {
	return w.Emit(ctx, tx, Source, typ, strconv.FormatInt(o.ID, 10), o.Version, event.OrderData{ID: o.ID, UserID: o.UserID, ProductID: o.ProductID})
}

// Apply records the ids announced by shop.user.created.v1 and
// shop.product.created.v2 (v1 events arrive upcast to v2: see
// event.Registry.Checked) in orders' own copy. It ignores other types.
// Applying an event twice, or in any order, gives the same copy.
func Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	switch e.Type {
	case event.UserCreated:
		d, err := event.Decode[event.UserCreatedData](e)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO known_users (id) VALUES ($1) ON CONFLICT DO NOTHING`, d.ID)
		return err
	case event.ProductCreatedV2:
		d, err := event.Decode[event.ProductDataV2](e)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO known_products (id) VALUES ($1) ON CONFLICT DO NOTHING`, d.ID)
		return err
	}
	return nil
}

// notFound is the error of an order that does not exist, or that the
// caller may not see.
func notFound(id int64) error { return herald.Errorf(herald.ENotFound, "order %d does not exist", id) }
