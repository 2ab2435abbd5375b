package event

import (
	"errors"
	"fmt"
	"strings"
)

// Blog event types. They keep the tutorial's names exactly, so services
// written against the tutorial's event bus exchange events with Herald's
// unchanged; inside Herald they travel as CloudEvents with these types.
const (
	PostCreated      = "PostCreated"
	CommentCreated   = "CommentCreated"
	CommentModerated = "CommentModerated"
	CommentUpdated   = "CommentUpdated"
	BlogStream       = "BLOG"
	BlogSubjects     = "blog.>" // every subject of the BLOG stream
	// BlogEventSubjects matches every blog event, and none of the stream's
	// redrive subjects.
	BlogEventSubjects = "blog.event.>"
)

// Comment statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
)

// MaxTypeLen is the longest event type the blog's bus accepts.
const MaxTypeLen = 128

// BlogSubject returns the NATS subject a blog event of type typ travels on:
// "blog.event.<typ>". Check typ with CheckBlogType first.
func BlogSubject(typ string) string { return "blog.event." + typ }

// CheckBlogType reports why typ cannot be a blog event type, or nil. A type
// becomes part of a NATS subject, so it may hold only ASCII letters, digits,
// '_', '-' and '.', with no empty part between dots.
func CheckBlogType(typ string) error {
	if strings.TrimSpace(typ) == "" {
		return errors.New("type must not be empty")
	}
	if len(typ) > MaxTypeLen {
		return fmt.Errorf("type is %d characters long; the limit is %d", len(typ), MaxTypeLen)
	}
	for _, r := range typ {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Errorf("type %q may hold only letters, digits, '_', '-' and '.'", typ)
		}
	}
	for part := range strings.SplitSeq(typ, ".") {
		if part == "" {
			return fmt.Errorf("type %q has an empty part between dots", typ)
		}
	}
	return nil
}

// The blog's event types. Each is declared by the service that owns it (see
// package catalogue) and named by the services that consume it. Other types
// may travel on the blog's bus, posted to the gateway by services outside
// Herald; Herald's own blog services never subscribe to them.
var (
	PostCreatedDef      = Define[PostData](PostCreated, "A post was written.")
	CommentCreatedDef   = Define[CommentData](CommentCreated, "A comment was written; its status is pending until moderated.")
	CommentModeratedDef = Define[CommentData](CommentModerated, "Moderation decided a comment's status (approved or rejected).")
	CommentUpdatedDef   = Define[CommentData](CommentUpdated, "A comment changed (its moderated status applied); data is the whole comment.")
)

// PostData is the payload of PostCreated.
type PostData struct {
	ID    string `json:"id" minLength:"1" doc:"Post id"`
	Title string `json:"title" minLength:"1"`
}

func (d PostData) Validate() error {
	return errors.Join(nonEmpty("id", d.ID), nonEmpty("title", d.Title))
}

// CommentData is the payload of CommentCreated, CommentModerated and
// CommentUpdated: the comment's whole state after the change.
type CommentData struct {
	ID      string `json:"id" minLength:"1" doc:"Comment id"`
	PostID  string `json:"postId" minLength:"1"`
	Content string `json:"content" minLength:"1"`
	Status  string `json:"status" enum:"pending,approved,rejected"`
}

func (d CommentData) Validate() error {
	var status error
	switch d.Status {
	case StatusPending, StatusApproved, StatusRejected:
	default:
		status = fmt.Errorf("status %q is not one of pending, approved, rejected", d.Status)
	}
	return errors.Join(nonEmpty("id", d.ID), nonEmpty("postId", d.PostID), nonEmpty("content", d.Content), status)
}
