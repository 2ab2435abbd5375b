package orders

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
)

// Descriptor describes the orders service to the catalogue. It keeps its
// own copy of the user and product ids it has heard of, from their events,
// so that placing an order calls no other service.
var Descriptor = catalogue.Service{
	Name:       "orders",
	Summary:    "Places and cancels orders for users and products it has heard of.",
	Addr:       "127.0.0.1:8083",
	Migrations: Migrations,
	Publishes:  []event.Def{event.OrderCreatedDef, event.OrderCancelledDef},
	Consumes: []catalogue.Consumer{{
		Doc:    "Records the ids of new users and products in orders' own copy.",
		Events: []event.Def{event.UserCreatedDef, event.ProductCreatedDef, event.ProductCreatedV2Def}, // v1 arrives upcast to v2
	}},
	Impl: catalogue.Implement(func(ctx context.Context, rt *catalogue.Runtime) (*Service, error) {
		s, err := New(ctx, rt.DB, rt.Writer)
		if err != nil {
			return nil, err
		}
		rt.Project("", service.Projection{Apply: Apply})
		return s, nil
	}, Register),
}
