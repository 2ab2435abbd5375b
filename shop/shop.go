// Package shop is the shop app's catalogue: its four services (users,
// products, orders and query), each in its own package with its own
// database, around the stream SHOP. `herald up`, `herald serve`, `herald
// bench` and the end-to-end tests all build the shop's services from App.
package shop

import (
	"context"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop/orders"
	"github.com/heraldev/herald/shop/products"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/shop/users"
)

// Stream is the JetStream stream that carries every shop event.
const Stream = event.ShopStream

// StreamSubjects are the subjects Stream holds.
const StreamSubjects = event.ShopSubjects

// App returns the shop's catalogue entry. A new shop service is one new
// package exporting a catalogue.Service, and one line here.
func App() catalogue.App {
	return catalogue.App{
		Name:     "shop",
		Summary:  "A shop: users sign up, products are listed, users order them, and a query service answers which products a user has ordered.",
		Stream:   Stream,
		Subjects: StreamSubjects,
		Services: []catalogue.Service{
			users.Descriptor,
			products.Descriptor,
			orders.Descriptor,
			query.Descriptor,
		},
	}
}

// Services are the shop's service names, in start order.
var Services = App().Names()

// Config configures one shop service. Replica applies to query only; DB,
// to every service but query, whose read model is a SQLite file local to
// each replica.
type Config = service.Config

// Build builds the shop's service called name (catalogue.Build), ready to
// Listen and Start. pub is where its outbox relay publishes, and, if it is
// the bus itself, what its consumers subscribe to.
func Build(ctx context.Context, name string, cfg Config, pub outbox.Publisher) (*service.Service, error) {
	b, _ := pub.(*jetstream.Bus)
	return catalogue.Build(ctx, App(), name, cfg, catalogue.Deps{Bus: b, Publisher: pub})
}
