package comments

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
)

// Descriptor describes the comments service to the catalogue. It keeps its
// own copy of the post ids it has heard of, and applies moderation's
// decisions.
var Descriptor = catalogue.Service{
	Name:       "comments",
	Summary:    "Stores the comments of posts it has heard of, and applies moderation's decisions.",
	Addr:       "127.0.0.1:4001",
	Migrations: Migrations,
	Publishes:  []event.Def{event.CommentCreatedDef, event.CommentUpdatedDef},
	Consumes: []catalogue.Consumer{{
		Doc:    "Records new posts' ids; applies each moderation decision and emits CommentUpdated.",
		Events: []event.Def{event.PostCreatedDef, event.CommentModeratedDef},
	}},
	CORS: true, // the tutorial's browser client runs on another port
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		rt.Project("", service.Projection{Apply: Apply, Committed: rt.NotifyRelay})
		return New(rt.DB, rt.Writer), nil
	}, Register),
}
