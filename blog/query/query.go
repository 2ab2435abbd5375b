// Package query is the blog's query service. It folds PostCreated,
// CommentCreated and CommentUpdated into its own read model and answers
// "every post with its comments" from that store alone: it calls no other
// service, so it keeps answering while posts, comments and moderation are
// down.
//
// The projection is commutative: any order of arrival, with any duplicates,
// gives the same read model. Posts and comments are upserts that keep the
// state of the newest event, ordered by effective version, then event time,
// then event id (a total order, so every tie is broken the same way); an
// older event changes nothing. A CommentUpdated that arrives before its
// CommentCreated creates the row, and the later CommentCreated only supplies
// the creation time that orders the comments. The join of comments to posts
// happens at read time, so a comment whose post has not arrived waits,
// invisible, until it does.
package query

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/store"
)

// Migrations is the read model's schema, in order. Times are Unix
// microseconds, so they compare as integers.
var Migrations = []store.Migration{
	store.ProcessedSchema,
	{SQLite: `CREATE TABLE posts (
		id       TEXT PRIMARY KEY,
		title    TEXT NOT NULL,
		version  INTEGER NOT NULL, -- effective version of the event that set the row
		event_us INTEGER NOT NULL, -- that event's time
		event_id TEXT NOT NULL     -- and id
	) WITHOUT ROWID;
	CREATE TABLE comments (
		id           TEXT PRIMARY KEY,
		post_id      TEXT NOT NULL,
		content      TEXT NOT NULL,
		status       TEXT NOT NULL,
		version      INTEGER NOT NULL,
		event_us     INTEGER NOT NULL,
		event_id     TEXT NOT NULL,
		created_us   INTEGER NOT NULL, -- the CommentCreated event's time, else the earliest event's
		created_seen INTEGER NOT NULL  -- 1 once a CommentCreated has set created_us
	) WITHOUT ROWID;
	CREATE INDEX comments_post ON comments (post_id, created_us, id);`},
}

// Post is a post with its comments, as the tutorial's query service shows it.
type Post struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Comments []Comment `json:"comments" nullable:"false" doc:"Oldest first"`
}

// Comment is one comment of a post.
type Comment struct {
	ID      string `json:"id"`
	Content string `json:"content"`
	Status  string `json:"status" enum:"pending,approved,rejected"`
}

// Service answers from the read model. It is safe for concurrent use.
type Service struct {
	db *sql.DB
}

// New returns a query service on db.
func New(db *sql.DB) *Service { return &Service{db: db} }

// Posts returns every post the service has heard of, keyed by id, each with
// its comments ordered by creation (the CommentCreated event's time, then
// id); a post without comments has an empty, non-nil list. It is one query.
func (s *Service) Posts(ctx context.Context) (map[string]Post, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT p.id, p.title, c.id, c.content, c.status
		FROM posts p LEFT JOIN comments c ON c.post_id = p.id
		ORDER BY p.id, c.created_us, c.id`)
	if err != nil {
		return nil, fmt.Errorf("read posts: %w", err)
	}
	defer rows.Close()
	out := map[string]Post{}
	for rows.Next() {
		var p Post
		var id, content, status sql.NullString
		if err := rows.Scan(&p.ID, &p.Title, &id, &content, &status); err != nil {
			return nil, fmt.Errorf("read posts: %w", err)
		}
		if have, ok := out[p.ID]; ok {
			p = have
		} else {
			p.Comments = []Comment{}
		}
		if id.Valid {
			p.Comments = append(p.Comments, Comment{ID: id.String, Content: content.String, Status: status.String})
		}
		out[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read posts: %w", err)
	}
	return out, nil
}

// EffectiveVersion is the version the projection orders e by: its entity
// version, or for an event with none (version 0, as events posted to the
// bus gateway by outside services are) the version its type implies, 1 for
// a creation and 2 for CommentUpdated.
func EffectiveVersion(e event.Envelope) int64 {
	switch {
	case e.EntityVersion > 0:
		return e.EntityVersion
	case e.Type == event.CommentUpdated:
		return 2
	default:
		return 1
	}
}

// Apply folds one validated blog event into the read model inside tx.
// Unknown types are an error (the caller validates against the registry
// first, so this means a type was subscribed to but not handled here).
func Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	version, at := EffectiveVersion(e), e.Time.UnixMicro()
	switch e.Type {
	case event.PostCreated:
		d, err := event.Decode[event.PostData](e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO posts (id, title, version, event_us, event_id) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET title = excluded.title,
				version = excluded.version, event_us = excluded.event_us, event_id = excluded.event_id
			WHERE (excluded.version, excluded.event_us, excluded.event_id) > (posts.version, posts.event_us, posts.event_id)`,
			d.ID, d.Title, version, at, e.ID); err != nil {
			return fmt.Errorf("project post %s: %w", d.ID, err)
		}
		return nil
	case event.CommentCreated, event.CommentUpdated:
		d, err := event.Decode[event.CommentData](e)
		if err != nil {
			return err
		}
		return comment(ctx, tx, e, d, version, at)
	}
	return fmt.Errorf("blog query does not handle event type %s", e.Type)
}

// comment upserts d. Its creation time only ever moves to a CommentCreated's
// time, or earlier among events of the same kind; its state only ever moves
// to a newer event's.
func comment(ctx context.Context, tx *sql.Tx, e event.Envelope, d event.CommentData, version, at int64) error {
	created := e.Type == event.CommentCreated
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO comments (id, post_id, content, status, version, event_us, event_id, created_us, created_seen)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?8)
		ON CONFLICT (id) DO UPDATE SET
			created_us = CASE
				WHEN excluded.created_seen > comments.created_seen THEN excluded.created_us
				WHEN excluded.created_seen < comments.created_seen THEN comments.created_us
				ELSE min(comments.created_us, excluded.created_us) END,
			created_seen = max(comments.created_seen, excluded.created_seen)`,
		d.ID, d.PostID, d.Content, d.Status, version, at, e.ID, created); err != nil {
		return fmt.Errorf("project comment %s: %w", d.ID, err)
	}
	// A no-op for the row just inserted; otherwise it takes this event's
	// state only if the event is newer than the one the row holds.
	if _, err := tx.ExecContext(ctx, `
		UPDATE comments SET post_id = ?2, content = ?3, status = ?4, version = ?5, event_us = ?6, event_id = ?7
		WHERE id = ?1 AND (?5, ?6, ?7) > (version, event_us, event_id)`,
		d.ID, d.PostID, d.Content, d.Status, version, at, e.ID); err != nil {
		return fmt.Errorf("project comment %s: %w", d.ID, err)
	}
	return nil
}
