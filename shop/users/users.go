// Package users is the shop's sign-up service. It owns the users database and
// emits shop.user.created.v1 through its outbox.
package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/shop/users"

// Migrations is the users database schema, in order.
var Migrations = []store.Migration{
	outbox.Schema,
	{
		SQLite: `CREATE TABLE users (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			name       TEXT NOT NULL,
			email      TEXT NOT NULL,
			version    INTEGER NOT NULL,
			created_at TEXT NOT NULL
		);
		CREATE UNIQUE INDEX users_email ON users (lower(email));`,
		Postgres: `CREATE TABLE users (
			id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			name       TEXT NOT NULL,
			email      TEXT NOT NULL,
			version    BIGINT NOT NULL,
			created_at TEXT NOT NULL
		);
		CREATE UNIQUE INDEX users_email ON users (lower(email));`,
	},
}

// User is a signed-up user.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
}

// Service signs users up. It is safe for concurrent use.
type Service struct {
	db *sql.DB
	w  *outbox.Writer // commits changes with their events, and wakes the relay
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(db *sql.DB, w *outbox.Writer) *Service { return &Service{db: db, w: w} }

// Create stores a new user and its shop.user.created.v1 event in one
// transaction. An email already signed up is an EConflict; the unique index
// decides when two instances sign the same email up at once.
func (s *Service) Create(ctx context.Context, name, email string) (User, error) {
	u := User{Name: strings.TrimSpace(name), Email: strings.TrimSpace(email), Version: 1, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		taken := &herald.Error{Code: herald.EConflict, Message: "a user with email " + u.Email + " already exists", Field: "body.email"}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower(CAST($1 AS TEXT)))`, u.Email).Scan(&exists); err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if exists {
			return taken
		}
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO users (name, email, version, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			u.Name, u.Email, u.Version, u.CreatedAt.Format(time.RFC3339Nano)).Scan(&u.ID); err != nil {
			if store.IsUniqueViolation(err) {
				return taken
			}
			return fmt.Errorf("create user: %w", err)
		}
		return s.w.Emit(ctx, tx, Source, event.UserCreated, strconv.FormatInt(u.ID, 10), u.Version,
			event.UserCreatedData{ID: u.ID, Name: u.Name, Email: u.Email})
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// Get returns the user with id, or an ENotFound error.
func (s *Service) Get(ctx context.Context, id int64) (User, error) {
	var u User
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT id, name, email, version, created_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Name, &u.Email, &u.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, herald.Errorf(herald.ENotFound, "user %d does not exist", id)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	u.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return u, nil
}
