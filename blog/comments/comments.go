// Package comments is the blog's comments service. It owns the comments
// database, emits CommentCreated for every new comment and CommentUpdated
// when moderation changes a comment's status, and keeps its own copy of the
// post ids it has heard of, fed only by PostCreated events: it never calls
// the posts service.
package comments

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/blog/comments"

// Migrations is the comments database schema, in order.
var Migrations = []store.Migration{
	outbox.Schema,
	store.ProcessedSchema,
	{
		SQLite: `CREATE TABLE known_posts (id TEXT PRIMARY KEY) WITHOUT ROWID;
		CREATE TABLE comments (
			seq     INTEGER PRIMARY KEY AUTOINCREMENT,
			id      TEXT NOT NULL UNIQUE,
			post_id TEXT NOT NULL,
			content TEXT NOT NULL,
			status  TEXT NOT NULL,
			version INTEGER NOT NULL
		);
		CREATE INDEX comments_post ON comments (post_id, seq);`,
		Postgres: `CREATE TABLE known_posts (id TEXT PRIMARY KEY);
		CREATE TABLE comments (
			seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			id      TEXT NOT NULL UNIQUE,
			post_id TEXT NOT NULL,
			content TEXT NOT NULL,
			status  TEXT NOT NULL,
			version BIGINT NOT NULL
		);
		CREATE INDEX comments_post ON comments (post_id, seq);`,
	},
}

// Comment is one comment of a post, as the tutorial's comments service
// shows it.
type Comment struct {
	ID      string `json:"id" doc:"Comment id (a UUIDv7)"`
	Content string `json:"content"`
	Status  string `json:"status" enum:"pending,approved,rejected" doc:"pending until moderation decides"`
}

// Service manages comments. It is safe for concurrent use.
type Service struct {
	db *sql.DB
	w  *outbox.Writer // commits changes with their events, and wakes the relay
}

// New returns a service that reads db and writes, with the events each
// change emits, through w.
func New(db *sql.DB, w *outbox.Writer) *Service { return &Service{db: db, w: w} }

// Create adds a pending comment to post postID and emits its CommentCreated
// event (entity version 1) in the same transaction. It returns the post's
// comments in creation order, the new one last. A post comments has not heard
// of is an ENotFound error, and nothing is written.
func (s *Service) Create(ctx context.Context, postID, content string) ([]Comment, error) {
	var list []Comment
	err := s.w.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if list, err = listOf(ctx, tx, postID); err != nil {
			return err
		}
		c := Comment{ID: event.NewID(), Content: content, Status: event.StatusPending}
		if _, err := tx.ExecContext(ctx, `INSERT INTO comments (id, post_id, content, status, version) VALUES ($1, $2, $3, $4, 1)`,
			c.ID, postID, c.Content, c.Status); err != nil {
			return fmt.Errorf("create comment on post %s: %w", postID, err)
		}
		list = append(list, c)
		return s.w.Emit(ctx, tx, Source, event.CommentCreated, c.ID, 1,
			event.CommentData{ID: c.ID, PostID: postID, Content: c.Content, Status: c.Status})
	})
	return list, err
}

// List returns post postID's comments in creation order; an empty, non-nil
// slice for a post without comments. A post comments has not heard of is an
// ENotFound error.
func (s *Service) List(ctx context.Context, postID string) ([]Comment, error) {
	return listOf(ctx, s.db, postID)
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listOf answers List in one query: no row means an unknown post, and a
// known post without comments gives one row of NULLs.
func listOf(ctx context.Context, q queryer, postID string) ([]Comment, error) {
	rows, err := q.QueryContext(ctx, `
		SELECT c.id, c.content, c.status
		FROM known_posts p LEFT JOIN comments c ON c.post_id = p.id
		WHERE p.id = $1
		ORDER BY c.seq`, postID)
	if err != nil {
		return nil, fmt.Errorf("comments of post %s: %w", postID, err)
	}
	defer rows.Close()
	var out []Comment
	for rows.Next() {
		var id, content, status sql.NullString
		if err := rows.Scan(&id, &content, &status); err != nil {
			return nil, fmt.Errorf("comments of post %s: %w", postID, err)
		}
		if out == nil {
			out = []Comment{}
		}
		if id.Valid {
			out = append(out, Comment{ID: id.String, Content: content.String, Status: status.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("comments of post %s: %w", postID, err)
	}
	if out == nil {
		return nil, herald.Errorf(herald.ENotFound,
			"post %s is not known to the comments service; if it was just created, retry in a moment", postID)
	}
	return out, nil
}
