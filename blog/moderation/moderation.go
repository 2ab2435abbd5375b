// Package moderation is the blog's moderation service. It decides every new
// comment from its CommentCreated event alone, approving it unless its content
// contains a banned word, and emits the decision as CommentModerated. It
// serves no API of its own; comments applies the decision.
package moderation

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Source is the CloudEvents source of this service's events.
const Source = "/blog/moderation"

// DefaultBannedWords are the tutorial's: it rejects any comment mentioning
// "orange".
var DefaultBannedWords = []string{"orange"}

// Migrations is the moderation database schema, in order: an outbox for its
// decisions and the record of the events it has applied.
var Migrations = []store.Migration{outbox.Schema, store.ProcessedSchema}

// Moderator decides comments. It is safe for concurrent use.
type Moderator struct {
	banned []string // lower case
}

// New returns a moderator that rejects a comment whose content contains any
// of banned, ignoring case. Nil or empty banned means DefaultBannedWords; a
// blank word (it would match every comment) is an error.
func New(banned []string) (*Moderator, error) {
	if len(banned) == 0 {
		banned = DefaultBannedWords
	}
	m := &Moderator{}
	for i, w := range banned {
		if strings.TrimSpace(w) == "" {
			return nil, fmt.Errorf("banned word %d of %d is blank, and would reject every comment", i+1, len(banned))
		}
		m.banned = append(m.banned, strings.ToLower(w))
	}
	return m, nil
}

// Decide returns event.StatusRejected if content contains a banned word,
// ignoring case (the tutorial's content.includes('orange'), made
// case-insensitive), and event.StatusApproved otherwise.
func (m *Moderator) Decide(content string) string {
	lower := strings.ToLower(content)
	for _, w := range m.banned {
		if strings.Contains(lower, w) {
			return event.StatusRejected
		}
	}
	return event.StatusApproved
}

// Apply decides the pending comment of a CommentCreated event and emits
// CommentModerated {id, postId, content, status} in tx, the transaction that
// records the event as processed; call the relay's Notify once tx has
// committed. The decision's entity version is the comment's next one (2 for
// a comment created at version 1 or by an outside service at version 0). A
// comment that is not pending, and any other event type, is left alone.
func (m *Moderator) Apply(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	if e.Type != event.CommentCreated {
		return nil
	}
	d, err := event.Decode[event.CommentData](e)
	if err != nil {
		return err
	}
	if d.Status != event.StatusPending {
		return nil
	}
	d.Status = m.Decide(d.Content)
	return outbox.Emit(ctx, tx, Source, event.CommentModerated, d.ID, max(e.EntityVersion, 1)+1, d)
}
