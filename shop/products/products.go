// Package products is the shop's catalogue service. It owns the products
// database and emits shop.product.created.v2 and shop.product.updated.v2,
// each carrying the product's whole state (price included) and version.
// It emitted the v1 types, without a price, before; it still owns them,
// and every consumer reads those stored as v2 (see event.ProductCreatedDef).
package products

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/shop/products"

// Migrations is the products database schema, in order.
var Migrations = []store.Migration{
	outbox.Schema,
	{
		SQLite: `CREATE TABLE products (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			title      TEXT NOT NULL,
			image      TEXT NOT NULL,
			version    INTEGER NOT NULL,
			updated_at TEXT NOT NULL
		);`,
		Postgres: `CREATE TABLE products (
			id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			title      TEXT NOT NULL,
			image      TEXT NOT NULL,
			version    BIGINT NOT NULL,
			updated_at TEXT NOT NULL
		);`,
	},
	// Products gain a price. Every product created before had none: it
	// gets price 0 in event.DefaultCurrency, as its v1 events read.
	{
		SQLite: `ALTER TABLE products ADD COLUMN price INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE products ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';`,
		Postgres: `ALTER TABLE products
			ADD COLUMN price BIGINT NOT NULL DEFAULT 0,
			ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';`,
	},
}

// Product is a catalogue entry.
type Product struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	Image     string    `json:"image"`
	Price     int64     `json:"price" doc:"Price in minor units of currency: 1999 is 19.99"`
	Currency  string    `json:"currency" doc:"ISO 4217 currency code"`
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Change is what an update sets: each nil field keeps its value.
type Change struct {
	Title, Image, Currency *string
	Price                  *int64
}

// Service manages the catalogue. It is safe for concurrent use.
type Service struct {
	db *sql.DB
	w  *outbox.Writer // commits changes with their events, and wakes the relay
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(db *sql.DB, w *outbox.Writer) *Service { return &Service{db: db, w: w} }

// Create stores a product at version 1 with its shop.product.created.v2
// event. price is in minor units of currency, an ISO 4217 code; a
// negative price or a malformed currency is an EInvalid error naming the
// field.
func (s *Service) Create(ctx context.Context, title, image string, price int64, currency string) (Product, error) {
	if err := checkPrice(&price, &currency); err != nil {
		return Product{}, err
	}
	p := Product{Title: title, Image: image, Price: price, Currency: currency, Version: 1, UpdatedAt: now()}
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO products (title, image, price, currency, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			p.Title, p.Image, p.Price, p.Currency, p.Version, p.UpdatedAt.Format(time.RFC3339Nano)).Scan(&p.ID); err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		return emit(ctx, s.w, tx, event.ProductCreatedV2, p)
	})
	return p, err
}

// checkPrice reports a negative price or a malformed currency (either may
// be nil: not given) as an EInvalid error naming the field.
func checkPrice(price *int64, currency *string) error {
	if price != nil && *price < 0 {
		return herald.FieldError("body.price", "price must be 0 or more (in minor units: 1999 is 19.99)")
	}
	if currency != nil && !event.IsCurrency(*currency) {
		return herald.FieldError("body.currency", "currency %q is not an ISO 4217 code of three upper-case letters, such as EUR", *currency)
	}
	return nil
}

// Update applies c (nil fields keep their value) and emits
// shop.product.updated.v2 with the next version. An update that changes
// nothing returns the product as it is and emits nothing.
//
// The change is one conditional UPDATE, which takes the product's row lock:
// concurrent updates (also from another instance on a shared PostgreSQL
// database) queue behind each other, each bumps the version the previous one
// left, and their events are committed in that order.
func (s *Service) Update(ctx context.Context, id int64, c Change) (Product, error) {
	if err := checkPrice(c.Price, c.Currency); err != nil {
		return Product{}, err
	}
	var p Product
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var updated string
		err := tx.QueryRowContext(ctx, `
			UPDATE products
			SET title = COALESCE($2, title), image = COALESCE($3, image), price = COALESCE($4, price),
				currency = COALESCE($5, currency), version = version + 1, updated_at = $6
			WHERE id = $1 AND (COALESCE($2, title) <> title OR COALESCE($3, image) <> image
				OR COALESCE($4, price) <> price OR COALESCE($5, currency) <> currency)
			RETURNING id, title, image, price, currency, version, updated_at`,
			id, c.Title, c.Image, c.Price, c.Currency, now().Format(time.RFC3339Nano)).
			Scan(&p.ID, &p.Title, &p.Image, &p.Price, &p.Currency, &p.Version, &updated)
		if errors.Is(err, sql.ErrNoRows) { // no such product, or nothing to change
			p, err = get(ctx, tx, id)
			return err
		}
		if err != nil {
			return fmt.Errorf("update product %d: %w", id, err)
		}
		p.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
		return emit(ctx, s.w, tx, event.ProductUpdatedV2, p)
	})
	return p, err
}

// Get returns the product with id, or an ENotFound error.
func (s *Service) Get(ctx context.Context, id int64) (Product, error) {
	return get(ctx, s.db, id)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func get(ctx context.Context, q queryer, id int64) (Product, error) {
	var p Product
	var updated string
	err := q.QueryRowContext(ctx, `SELECT id, title, image, price, currency, version, updated_at FROM products WHERE id = $1`, id).
		Scan(&p.ID, &p.Title, &p.Image, &p.Price, &p.Currency, &p.Version, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Product{}, herald.Errorf(herald.ENotFound, "product %d does not exist", id)
	}
	if err != nil {
		return Product{}, fmt.Errorf("get product %d: %w", id, err)
	}
	p.UpdatedAt, _ = time.Parse(time.RFC3339Nano, updated)
	return p, nil
}

func emit(ctx context.Context, w *outbox.Writer, tx *sql.Tx, typ string, p Product) error {
	return w.Emit(ctx, tx, Source, typ, strconv.FormatInt(p.ID, 10), p.Version,
		event.ProductDataV2{ID: p.ID, Title: p.Title, Image: p.Image, Price: p.Price, Currency: p.Currency})
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
