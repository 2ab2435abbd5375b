package query

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
)

// Descriptor describes the shop's query service to the catalogue. It
// consumes every shop event by its own subject, not "shop.>", so that it
// does not also receive the redrive subjects of other consumers.
var Descriptor = catalogue.Service{
	Name:       "query",
	Summary:    "Answers which products a user has ordered, from its own read model alone.",
	Addr:       "127.0.0.1:8084",
	Migrations: Migrations,
	ReadModel:  true,
	Consumes: []catalogue.Consumer{{
		Doc: "Folds every shop event into the read model.",
		// Both versions of the product events: v1 to receive what is
		// stored, which arrives upcast to v2, the only shape Apply handles.
		Events: []event.Def{event.UserCreatedDef, event.ProductCreatedDef, event.ProductUpdatedDef,
			event.ProductCreatedV2Def, event.ProductUpdatedV2Def, event.OrderCreatedDef, event.OrderCancelledDef},
	}},
	Impl: catalogue.Implement(func(ctx context.Context, rt *catalogue.Runtime) (*Service, error) {
		s, err := New(ctx, rt.DB)
		if err != nil {
			return nil, err
		}
		rt.Project("", service.Projection{Apply: s.Apply, Committed: s.Committed})
		return s, nil
	}, Register),
}
