package comments

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
)

// Apply folds one validated event into the comments database inside tx, the
// transaction that records the event as processed:
//
//   - PostCreated adds the post's id to comments' own copy (again: no change).
//   - CommentModerated sets the comment's status to the decided one, bumps
//     its version and emits CommentUpdated {id, postId, content, status} with
//     that version, in tx. A decision equal to the current status changes
//     nothing and emits nothing. A comment comments does not have is an
//     error, so the event is retried and then dead-lettered, never dropped.
//
// Call the relay's Notify once tx has committed. Other types are ignored.
func Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	switch e.Type {
	case event.PostCreated:
		d, err := event.Decode[event.PostData](e)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO known_posts (id) VALUES ($1) ON CONFLICT DO NOTHING`, d.ID); err != nil {
			return fmt.Errorf("record post %s: %w", d.ID, err)
		}
		return nil
	case event.CommentModerated:
		d, err := event.Decode[event.CommentData](e)
		if err != nil {
			return err
		}
		return moderated(ctx, tx, d)
	}
	return nil
}

// moderated applies a decision with one conditional UPDATE, which takes the
// comment's row lock, so two instances sharing a PostgreSQL database cannot
// both bump the same version.
func moderated(ctx context.Context, tx *sql.Tx, d event.CommentData) error {
	c := event.CommentData{ID: d.ID, Status: d.Status}
	var version int64
	err := tx.QueryRowContext(ctx, `
		UPDATE comments SET status = $2, version = version + 1
		WHERE id = $1 AND status <> $2
		RETURNING post_id, content, version`, d.ID, d.Status).Scan(&c.PostID, &c.Content, &version)
	if errors.Is(err, sql.ErrNoRows) { // the status is the decided one already, or no such comment
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM comments WHERE id = $1)`, d.ID).Scan(&exists); err != nil {
			return fmt.Errorf("look up comment %s: %w", d.ID, err)
		}
		if !exists {
			return fmt.Errorf("comment %s (post %s) is not known to the comments service", d.ID, d.PostID)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("update comment %s: %w", d.ID, err)
	}
	return outbox.Emit(ctx, tx, Source, event.CommentUpdated, c.ID, version, c)
}
