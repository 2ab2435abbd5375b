// Package users is the shop's sign-up service. It owns the users database and
// emits shop.user.created.v1 through its outbox.
package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
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
	{
		// Sign-in: an Argon2id hash (never the password, never in an
		// event) and a role. Users signed up before passwords existed
		// have no hash and cannot sign in.
		SQLite: `ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
		ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';`,
		Postgres: `ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT '';
		ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';`,
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

// Service signs users up and in. It is safe for concurrent use.
type Service struct {
	db *sql.DB
	w  *outbox.Writer // commits changes with their events, and wakes the relay
	// hashing bounds the password hashes computed at once: each holds
	// 19 MiB for some 20 ms, so a burst of sign-ups or sign-ins queues
	// here instead of exhausting memory.
	hashing chan struct{}
	issuer  *auth.Issuer         // signs the tokens of POST /sessions; nil: sign-in is not configured
	signins *httpapi.RateLimiter // sign-in attempts per email; nil for none
}

// SignInRate is how often one email may try to sign in: a burst of 5,
// then one every 12 seconds (5 a minute), against guessing a password.
const (
	SignInRate  = 1.0 / 12
	SignInBurst = 5
)

// UseIssuer makes s sign in users with tokens from i, and limits sign-in
// attempts per email (SignInRate).
func (s *Service) UseIssuer(i *auth.Issuer) error {
	s.issuer = i
	l, err := httpapi.NewRateLimiter(SignInRate, SignInBurst, 100_000)
	if err != nil {
		return err
	}
	s.signins = l
	return nil
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(db *sql.DB, w *outbox.Writer) *Service {
	return &Service{db: db, w: w, hashing: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

// withHashing runs f, which hashes or checks a password, once a hashing
// slot is free, or returns ctx's error.
func (s *Service) withHashing(ctx context.Context, f func()) error {
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return herald.Errorf(herald.EUnavailable, "too many sign-ups and sign-ins at once; retry shortly")
	}
	defer func() { <-s.hashing }()
	f()
	return nil
}

// Create stores a new user, with password hashed (Argon2id; never stored
// or emitted as is), and its shop.user.created.v1 event in one
// transaction. A password shorter than auth.MinPasswordLength is an
// EInvalid; an email already signed up is an EConflict; the unique index
// decides when two instances sign the same email up at once.
func (s *Service) Create(ctx context.Context, name, email, password string) (User, error) {
	u := User{Name: strings.TrimSpace(name), Email: strings.TrimSpace(email), Version: 1, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	var hash string
	var herr error
	if err := s.withHashing(ctx, func() { hash, herr = auth.HashPassword(password) }); err != nil {
		return User{}, err
	}
	if herr != nil {
		return User{}, herr
	}
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
			`INSERT INTO users (name, email, version, created_at, password_hash, role) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			u.Name, u.Email, u.Version, u.CreatedAt.Format(time.RFC3339Nano), hash, string(auth.RoleUser)).Scan(&u.ID); err != nil {
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

// SignIn returns the user whose email and password these are, and the
// user's role. A wrong password, an unknown email and a user without a
// password are one EUnauthorized, after the same work, so that a caller
// cannot tell which emails are signed up.
func (s *Service) SignIn(ctx context.Context, email, password string) (User, auth.Role, error) {
	var u User
	var created, hash, role string
	err := s.db.QueryRowContext(ctx, `SELECT id, name, email, version, created_at, password_hash, role FROM users WHERE lower(email) = lower(CAST($1 AS TEXT))`,
		strings.TrimSpace(email)).Scan(&u.ID, &u.Name, &u.Email, &u.Version, &created, &hash, &role)
	found := err == nil && hash != ""
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, "", fmt.Errorf("sign in: %w", err)
	}
	var ok bool
	if err := s.withHashing(ctx, func() { ok = auth.CheckPasswordOrDummy(hash, found, password) }); err != nil {
		return User{}, "", err
	}
	if !found || !ok {
		return User{}, "", herald.Errorf(herald.EUnauthorized, "wrong email or password")
	}
	u.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return u, auth.Role(role), nil
}

// Get returns the user with id, or an ENotFound error.
func (s *Service) Get(ctx context.Context, id int64) (User, error) {
	var u User
	var created string
	err := s.db.QueryRowContext(ctx, `SELECT id, name, email, version, created_at FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Name, &u.Email, &u.Version, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, notFound(id)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	u.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
	return u, nil
}

// notFound is the error of a user that does not exist, or that the caller
// may not see.
func notFound(id int64) error { return herald.Errorf(herald.ENotFound, "user %d does not exist", id) }
