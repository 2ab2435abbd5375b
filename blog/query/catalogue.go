package query

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
)

// Descriptor describes the blog's query service to the catalogue. It
// consumes the events it folds by their own subjects, not "blog.>", so that
// it does not also receive the redrive subjects of other consumers.
var Descriptor = catalogue.Service{
	Name:       "blog-query",
	Summary:    "Answers all posts with their comments, from its own read model alone.",
	Addr:       "127.0.0.1:4002",
	Migrations: Migrations,
	ReadModel:  true,
	Consumes: []catalogue.Consumer{{
		Doc:    "Folds posts and comments into the read model.",
		Events: []event.Def{event.PostCreatedDef, event.CommentCreatedDef, event.CommentUpdatedDef},
	}},
	CORS: true, // the tutorial's browser client runs on another port
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		rt.Project("", service.Projection{Apply: Apply})
		return New(rt.DB), nil
	}, Register),
}
