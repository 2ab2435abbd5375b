// Package query is the shop's query service. It folds every shop event into
// its own read model and answers "the products a user has ordered" from that
// store alone: it calls no other service, so it keeps answering while users,
// products and orders are down.
//
// The projection is commutative. Products and order lines are versioned
// upserts (an event older than the stored version changes nothing), a
// cancellation that arrives before its order leaves a tombstone the order
// cannot revive, and the join of order lines to products happens at read
// time, so an order for a product not yet seen shows once the product
// arrives. Any order of arrival gives the same read model.
package query

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/store"
)

// Migrations is the read model's schema, in order.
var Migrations = []store.Migration{
	store.ProcessedSchema,
	{SQLite: `CREATE TABLE users (id INTEGER PRIMARY KEY, version INTEGER NOT NULL);
	CREATE TABLE products (
		id      INTEGER PRIMARY KEY,
		title   TEXT NOT NULL,
		image   TEXT NOT NULL,
		version INTEGER NOT NULL
	);
	CREATE TABLE order_lines (
		order_id   INTEGER PRIMARY KEY,
		user_id    INTEGER NOT NULL,
		product_id INTEGER NOT NULL,
		cancelled  INTEGER NOT NULL,
		version    INTEGER NOT NULL
	);
	CREATE INDEX order_lines_user ON order_lines (user_id, cancelled, order_id);`},
	// Products gain a price (shop.product.*.v2). Existing rows get the v1
	// default, price 0 in event.DefaultCurrency: what their events, all
	// v1 until products emitted v2, read as once upcast. A read model that
	// already holds v2 data it could not store (a query older than products
	// dead-letters v2 events) needs those redriven, or a rebuild; this
	// migration rebuilds nothing.
	{SQLite: `ALTER TABLE products ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE products ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';`},
}

// Product is one line of a user's answer.
type Product struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Image    string `json:"image"`
	Price    int64  `json:"price" doc:"Current price in minor units of currency (1999 is 19.99); 0 for a product recorded before products had a price"`
	Currency string `json:"currency" doc:"ISO 4217 currency code; EUR for a product recorded before products had a price"`
}

// Service answers from the read model. It is safe for concurrent use.
type Service struct {
	v     *view
	stmts map[string]*sql.Stmt // by query; closed with the database
}

// New returns a query service on db, whose read model it loads into memory.
// The consumer that feeds db folds events with Apply and must call Committed
// after each commit.
func New(ctx context.Context, db *sql.DB) (*Service, error) {
	v, err := load(ctx, db)
	if err != nil {
		return nil, err
	}
	s := &Service{v: v, stmts: map[string]*sql.Stmt{}}
	for _, q := range []string{upsertUser, upsertProduct, upsertLine} {
		if s.stmts[q], err = db.PrepareContext(ctx, q); err != nil {
			return nil, fmt.Errorf("prepare the projection: %w", err)
		}
	}
	return s, nil
}

// Committed makes the answers show es, events Apply has folded into the
// tables in a transaction that has committed.
func (s *Service) Committed(es []event.Envelope) { s.v.fold(es) }

// UserProducts returns the products user id has ordered and not cancelled,
// each once, newest order first, with their current title, image and price. A user
// the service has never heard of is an ENotFound error; a known user with no
// orders gets an empty, non-nil slice. It reads memory only.
func (s *Service) UserProducts(ctx context.Context, userID int64) ([]Product, error) {
	ps, known := s.v.userProducts(userID)
	if !known {
		return nil, UnknownUser(userID)
	}
	return ps, nil
}

// The projection's statements, prepared once per database (Service.Apply
// binds them to each transaction): on SQLite, parsing a statement costs
// about as much as running it.
const (
	upsertUser = `INSERT INTO users (id, version) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version WHERE excluded.version > users.version`
	upsertProduct = `INSERT INTO products (id, title, image, price, currency, version) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET title = excluded.title, image = excluded.image, price = excluded.price,
			currency = excluded.currency, version = excluded.version
		WHERE excluded.version > products.version`
	upsertLine = `INSERT INTO order_lines (order_id, user_id, product_id, cancelled, version) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (order_id) DO UPDATE SET cancelled = excluded.cancelled, version = excluded.version
		WHERE excluded.version > order_lines.version`
)

// Apply folds one shop event, as the registry's Checked returns it (v1
// product events upcast to v2), into the read model's tables inside tx, a
// transaction on the Service's database; call Committed with it once tx
// has committed. Unknown types are an error (the caller validates against
// the registry first, so this means a type was registered but not handled
// here); so is a v1 product event that was not upcast.
func (s *Service) Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	switch e.Type {
	case event.UserCreated:
		d, err := event.Decode[event.UserCreatedData](e)
		if err != nil {
			return err
		}
		_, err = tx.StmtContext(ctx, s.stmts[upsertUser]).ExecContext(ctx, d.ID, e.EntityVersion)
		return err
	case event.ProductCreatedV2, event.ProductUpdatedV2:
		d, err := event.Decode[event.ProductDataV2](e)
		if err != nil {
			return err
		}
		_, err = tx.StmtContext(ctx, s.stmts[upsertProduct]).ExecContext(ctx, d.ID, d.Title, d.Image, d.Price, d.Currency, e.EntityVersion)
		return err
	case event.OrderCreated, event.OrderCancelled:
		d, err := event.Decode[event.OrderData](e)
		if err != nil {
			return err
		}
		cancelled := e.Type == event.OrderCancelled
		_, err = tx.StmtContext(ctx, s.stmts[upsertLine]).ExecContext(ctx, d.ID, d.UserID, d.ProductID, cancelled, e.EntityVersion)
		return err
	}
	return fmt.Errorf("query does not handle event type %s", e.Type)
}

// UnknownUser is the error of a user no event has mentioned, and of one
// the caller may not see: the two must not be told apart.
func UnknownUser(id int64) error {
	return herald.Errorf(herald.ENotFound, "user %d is unknown to the query service (no event about it has arrived)", id)
}
