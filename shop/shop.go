// Package shop wires the shop's four services (users, products, orders and
// query), each on its own SQLite database, onto the service runtime. `herald
// up`, `herald serve` and the end-to-end tests all build services here.
package shop

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/heraldev/herald/bus"
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

// Config configures one shop service.
type Config struct {
	// DataDir holds the service's database, <DataDir>/shop-<name>.db.
	DataDir  string
	Addr     string // listen address
	AddrFlag string // the flag that sets Addr, for error messages
	Logger   *slog.Logger
	// Consumer settings for services that consume (orders, query); zero
	// values take bus.Consumer's defaults.
	MaxDeliver int
	Backoff    []time.Duration
	AckWait    time.Duration
	// Wrap, if set, wraps each consumer's handler. Tests use it to inject
	// failures; production leaves it nil.
	Wrap func(bus.Handler) bus.Handler
}

// Build opens the named service's database and returns the service, ready to
// Listen and Start. pub is where its outbox relay publishes.
func Build(ctx context.Context, name string, cfg Config, pub outbox.Publisher) (*service.Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := service.New(name, cfg.Logger)
	s.Addr, s.AddrFlag = cfg.Addr, cfg.AddrFlag
	api := httpapi.NewAPI(s.Mux, "Herald shop "+name, "1.0.0")

	var migrations []string
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
	db, err := store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "shop-"+name+".db"), migrations)
	if err != nil {
		return nil, fmt.Errorf("open %s db: %w", name, err)
	}
	s.DB = db

	reg := event.Shop()
	consumer := func(subjects []string, h bus.Handler) service.Consumer {
		if cfg.Wrap != nil {
			h = cfg.Wrap(h)
		}
		return service.Consumer{Handler: h, Consumer: bus.Consumer{
			Name: "shop-" + name, Stream: Stream, Subjects: subjects,
			MaxDeliver: cfg.MaxDeliver, Backoff: cfg.Backoff, AckWait: cfg.AckWait,
		}}
	}
	switch name {
	case "users":
		s.Relay = outbox.NewRelay(db, pub, s.Log)
		users.Register(api, users.New(db, s.Relay), s.Log)
	case "products":
		s.Relay = outbox.NewRelay(db, pub, s.Log)
		products.Register(api, products.New(db, s.Relay), s.Log)
	case "orders":
		s.Relay = outbox.NewRelay(db, pub, s.Log)
		orders.Register(api, orders.New(db, s.Relay), s.Log)
		s.Consumers = append(s.Consumers, consumer(orders.Subjects, s.Apply(reg, orders.Apply)))
	case "query":
		query.Register(api, query.New(db), s.Log)
		s.Consumers = append(s.Consumers, consumer(query.Subjects, s.Apply(reg, query.Apply)))
	}
	return s, nil
}
