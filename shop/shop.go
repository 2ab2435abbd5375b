// Package shop wires the shop's four services (users, products, orders and
// query), each on its own SQLite database, onto the service runtime. `herald
// up`, `herald serve` and the end-to-end tests all build services here.
package shop

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop/orders"
	"github.com/heraldev/herald/shop/products"
	"github.com/heraldev/herald/shop/query"
	"github.com/heraldev/herald/shop/users"
	"github.com/heraldev/herald/store"
)

// Stream is the JetStream stream that carries every shop event.
const Stream = event.ShopStream

// StreamSubjects are the subjects Stream holds.
const StreamSubjects = event.ShopSubjects

// Services are the shop's service names, in start order.
var Services = []string{"users", "products", "orders", "query"}

// Config configures one shop service. Replica applies to query only; DB,
// to every service but query, whose read model is a SQLite file local to
// each replica.
type Config = service.Config

// Build opens the named service's database and returns the service, ready to
// Listen and Start. pub is where its outbox relay publishes.
func Build(ctx context.Context, name string, cfg Config, pub outbox.Publisher) (*service.Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	var migrations []store.Migration
	switch name {
	case "users":
		migrations = users.Migrations
	case "products":
		migrations = products.Migrations
	case "orders":
		migrations = orders.Migrations
	case "query":
		migrations = query.Migrations
	default:
		return nil, fmt.Errorf("unknown shop service %q (want one of %v)", name, Services)
	}
	// Files and consumers are named shop-<name>, and shop-query-<replica>
	// for a named query replica.
	base := cfg.Name("shop-"+name, name == "query")
	s := service.New(name, cfg.Logger)
	s.Addr, s.AddrFlag = cfg.Addr, cfg.AddrFlag
	api := httpapi.NewAPI(s.Mux, "Herald shop "+name, "1.0.0")
	db, err := cfg.OpenDB(ctx, base, migrations)
	if err != nil {
		return nil, fmt.Errorf("open %s db: %w", name, err)
	}
	g := s.UseDB(db)

	reg := event.Shop()
	switch name {
	case "users":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		users.Register(api, users.New(db, outbox.NewWriter(g, s.Relay)), s.Log)
	case "products":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		products.Register(api, products.New(db, outbox.NewWriter(g, s.Relay)), s.Log)
	case "orders":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		o, err := orders.New(ctx, db, outbox.NewWriter(g, s.Relay))
		if err != nil {
			db.Close()
			return nil, err
		}
		orders.Register(api, o, s.Log)
		s.Consumers = append(s.Consumers, cfg.Consumer(base, Stream, orders.Subjects, s.Project(reg, service.Projection{Apply: orders.Apply})))
	case "query":
		q, err := query.New(ctx, db)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		query.Register(api, q, s.Log)
		s.Consumers = append(s.Consumers, cfg.Consumer(base, Stream, query.Subjects,
			s.Project(reg, service.Projection{Apply: q.Apply, Committed: q.Committed})))
	}
	return s, nil
}
