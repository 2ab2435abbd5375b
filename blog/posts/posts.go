// Package posts is the blog's posts service. It owns the posts database and
// emits PostCreated, in the tutorial's shape {id, title}, for every post.
package posts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/blog/posts"

// Migrations is the posts database schema, in order.
var Migrations = []store.Migration{
	outbox.Schema,
	{
		SQLite: `CREATE TABLE posts (
			id         TEXT PRIMARY KEY,
			title      TEXT NOT NULL,
			created_at TEXT NOT NULL
		) WITHOUT ROWID;`,
		Postgres: `CREATE TABLE posts (
			id         TEXT PRIMARY KEY,
			title      TEXT NOT NULL,
			created_at TEXT NOT NULL
		);`,
	},
}

// Post is a blog post, as the tutorial's posts service shows it.
type Post struct {
	ID    string `json:"id" doc:"Post id (a UUIDv7)"`
	Title string `json:"title"`
}

// Service manages posts. It is safe for concurrent use.
type Service struct {
	db *sql.DB
	w  *outbox.Writer // commits changes with their events, and wakes the relay
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(db *sql.DB, w *outbox.Writer) *Service { return &Service{db: db, w: w} }

// Create stores a post with a fresh UUIDv7 id and emits its PostCreated
// event (entity version 1) in the same transaction.
func (s *Service) Create(ctx context.Context, title string) (Post, error) {
	p := Post{ID: event.NewID(), Title: title}
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO posts (id, title, created_at) VALUES ($1, $2, $3)`,
			p.ID, p.Title, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
			return fmt.Errorf("create post: %w", err)
		}
		return s.w.Emit(ctx, tx, Source, event.PostCreated, p.ID, 1, event.PostData{ID: p.ID, Title: p.Title})
	})
	return p, err
}

// Get returns the post with id, or an ENotFound error.
func (s *Service) Get(ctx context.Context, id string) (Post, error) {
	var p Post
	err := s.db.QueryRowContext(ctx, `SELECT id, title FROM posts WHERE id = $1`, id).Scan(&p.ID, &p.Title)
	if errors.Is(err, sql.ErrNoRows) {
		return Post{}, herald.Errorf(herald.ENotFound, "post %s does not exist", id)
	}
	if err != nil {
		return Post{}, fmt.Errorf("get post %s: %w", id, err)
	}
	return p, nil
}

// List returns every post keyed by its id, the tutorial's shape. With no
// posts it returns an empty, non-nil map.
func (s *Service) List(ctx context.Context) (map[string]Post, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, title FROM posts`)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	defer rows.Close()
	out := map[string]Post{}
	for rows.Next() {
		var p Post
		if err := rows.Scan(&p.ID, &p.Title); err != nil {
			return nil, fmt.Errorf("list posts: %w", err)
		}
		out[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	return out, nil
}
