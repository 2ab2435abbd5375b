package posts

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// Descriptor describes the posts service to the catalogue.
var Descriptor = catalogue.Service{
	Name:       "posts",
	Summary:    "Stores the blog's posts.",
	Addr:       "127.0.0.1:4000",
	Migrations: Migrations,
	Publishes:  []event.Def{event.PostCreatedDef},
	CORS:       true, // the tutorial's browser client runs on another port
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		return New(rt.DB, rt.Writer), nil
	}, Register),
}
