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

// Blog is the registry of every blog event type Herald's blog services
// understand. Other types may travel on the blog's bus; Herald's services
// never subscribe to them.
func Blog() *Registry {
	r := &Registry{}
	Register[PostData](r, PostCreated)
	Register[CommentData](r, CommentCreated)
	Register[CommentData](r, CommentModerated)
	Register[CommentData](r, CommentUpdated)
	return r
}

// PostData is the payload of PostCreated.
type PostData struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func (d PostData) Validate() error {
	return errors.Join(nonEmpty("id", d.ID), nonEmpty("title", d.Title))
}

// CommentData is the payload of CommentCreated, CommentModerated and
// CommentUpdated: the comment's whole state after the change.
type CommentData struct {
	ID      string `json:"id"`
	PostID  string `json:"postId"`
	Content string `json:"content"`
	Status  string `json:"status"`
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
