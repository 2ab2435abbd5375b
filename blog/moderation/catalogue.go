package moderation

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
)

// Descriptor describes, to the catalogue, the moderation service rejecting
// comments that contain any of banned (see New).
func Descriptor(banned []string) catalogue.Service {
	return catalogue.Service{
		Name:       "moderation",
		Summary:    "Approves or rejects each new comment; rejects those with a banned word.",
		Addr:       "127.0.0.1:4003",
		Migrations: Migrations,
		Publishes:  []event.Def{event.CommentModeratedDef},
		CORS:       true, // like every blog service
		Consumes: []catalogue.Consumer{{
			Doc:    "Decides each new comment and emits the decision.",
			Events: []event.Def{event.CommentCreatedDef},
		}},
		Check: func() error {
			_, err := New(banned)
			return err
		},
		Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Moderator, error) {
			m, err := New(banned)
			if err != nil {
				return nil, err
			}
			rt.Project("", service.Projection{Apply: m.Apply, Committed: rt.NotifyRelay})
			return m, nil
		}, nil),
	}
}
