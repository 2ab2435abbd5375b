package products

import (
	"context"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// Descriptor describes the products service to the catalogue.
var Descriptor = catalogue.Service{
	Name:       "products",
	Summary:    "Keeps the product catalogue.",
	Addr:       "127.0.0.1:8082",
	Migrations: Migrations,
	// It emits the v2 types. It owns the v1 types too, which it emitted
	// before products had a price: they are stored, consumers subscribe
	// to them and read them as v2, and their schemas are served.
	Publishes: []event.Def{event.ProductCreatedV2Def, event.ProductUpdatedV2Def, event.ProductCreatedDef, event.ProductUpdatedDef},
	Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (*Service, error) {
		return New(rt.DB, rt.Writer), nil
	}, Register),
}
