package catalogue

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// Impl is how a service is built: what it makes on a Runtime, and the HTTP
// routes it serves. Make one with Implement.
type Impl struct {
	setup  func(ctx context.Context, rt *Runtime) (routes func(huma.API), err error)
	routes func(api huma.API) // with the zero implementation: to list the routes
}

// Implement returns the Impl of a service whose implementation, of type T,
// setup makes on a Runtime (opening what it needs on rt.DB, and giving each
// of the service's consumers its projection with rt.Project), and whose
// routes registers its HTTP routes on api for that implementation. routes
// may be nil for a service without an API of its own.
//
// routes is also called with T's zero value to list the routes without
// building anything, so it must only register handlers, not call the
// implementation: Huma's huma.Register records an operation and calls its
// handler only when a request arrives.
func Implement[T any](setup func(ctx context.Context, rt *Runtime) (T, error), routes func(api huma.API, impl T, log *slog.Logger)) Impl {
	im := Impl{setup: func(ctx context.Context, rt *Runtime) (func(huma.API), error) {
		impl, err := setup(ctx, rt)
		if err != nil || routes == nil {
			return nil, err
		}
		return func(api huma.API) { routes(api, impl, rt.Log) }, nil
	}}
	if routes != nil {
		im.routes = func(api huma.API) {
			var zero T
			routes(api, zero, slog.New(slog.DiscardHandler))
		}
	}
	return im
}

// Runtime is what a service's setup builds on: its descriptor, its module,
// its open database and, for a write service, the outbox writer.
type Runtime struct {
	App     App              // the service's app
	Desc    Service          // the service's descriptor
	Module  *service.Service // the module being built: its Mux, Metrics and OnStart/OnStop hooks
	Log     *slog.Logger     // the service's logger
	DB      *sql.DB          // the service's own database, migrated
	Writer  *outbox.Writer   // commits changes with the events they emit; nil unless the service owns events
	Relay   *outbox.Relay    // the service's outbox relay; nil unless it owns events
	Bus     *jetstream.Bus   // the bus; nil when the service was built with a Publisher only (see Deps)
	Replica string           // the read model replica's name, "" for the unnamed one
	// Issuer signs the tokens of users who sign in (service.Config.Issuer);
	// nil where none was configured.
	Issuer *auth.Issuer

	projections map[string]service.Projection
}

// Project gives the service's consumer called name (its Consumer.Name as
// declared, "" for the default) the projection that folds its events into
// the database. Build refuses a declared consumer left without one.
func (rt *Runtime) Project(name string, p service.Projection) {
	if rt.projections == nil {
		rt.projections = map[string]service.Projection{}
	}
	rt.projections[name] = p
}

// NotifyRelay wakes the service's outbox relay; as a Projection's
// Committed, it publishes at once the events a consumer's Apply emitted.
func (rt *Runtime) NotifyRelay([]event.Envelope) {
	if rt.Relay != nil {
		rt.Relay.Notify()
	}
}

// Deps are what Build connects a service to.
type Deps struct {
	// Bus is the bus the service's consumers subscribe to when it starts,
	// and that services reading the bus directly (the gateway) use.
	Bus *jetstream.Bus
	// Publisher is where the service's outbox relay publishes; nil means
	// Bus. Tests put a fault-injecting publisher here.
	Publisher outbox.Publisher
}

// Build builds app's service called name with cfg: it opens and migrates
// the service's database (service.Config.OpenDB, named after App.Base),
// adds an outbox relay if the service owns events, runs its setup, serves
// its routes, its part of the app's AsyncAPI document (GET /asyncapi.json)
// and the JSON Schemas of the events it publishes (GET /events/schemas),
// and gives it one consumer per declared Consumer.
// The service is ready to Listen and Start. On error nothing stays open.
func Build(ctx context.Context, app App, name string, cfg service.Config, deps Deps) (*service.Service, error) {
	desc, ok := app.Service(name)
	if !ok {
		return nil, fmt.Errorf("unknown %s service %q (want one of %v)", app.Name, name, app.Names())
	}
	if desc.Impl.setup == nil {
		return nil, fmt.Errorf("%s: the catalogue has no Impl for it", name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if desc.Check != nil {
		if err := desc.Check(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	asyncapi, err := AsyncAPI(app, name)
	if err != nil {
		return nil, err
	}
	schemas, err := schemasJSON(app, desc)
	if err != nil {
		return nil, err
	}
	pub := deps.Publisher
	if pub == nil && deps.Bus != nil {
		pub = deps.Bus
	}
	if desc.Writes() && pub == nil {
		return nil, fmt.Errorf("%s owns events and needs a bus to publish them to", name)
	}

	s := service.New(name, cfg.Logger)
	s.Addr, s.AddrFlag, s.CORS, s.Pprof, s.MaxWait, s.Auth = cfg.Addr, cfg.AddrFlag, desc.CORS, cfg.Pprof, cfg.MaxWait, cfg.Auth
	if cfg.Tracing != nil {
		s.UseTracing(cfg.Tracing.Provider(app.Name, name), cfg.Tracing.Ring())
	}
	if cfg.Limits != nil {
		s.Limits = *cfg.Limits
	}
	replica := ""
	if desc.ReadModel {
		replica = cfg.Replica
	}
	dsn := cfg.DSN(cfg.Name(app.Base(desc), desc.ReadModel))
	if desc.ReadModel && !store.IsPostgresURL(dsn) {
		if dsn, err = generation(dsn, cfg.Generation); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	db, err := store.OpenWith(ctx, dsn, desc.Migrations, store.Options{NoSync: cfg.NoFsync})
	if err != nil {
		return nil, fmt.Errorf("open %s db: %w", name, err)
	}
	if desc.ReadModel {
		if err := recordProjection(ctx, db, desc); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	g := s.UseDB(db)
	s.App, s.Store = app.Name, store.Describe(dsn)
	rt := &Runtime{App: app, Desc: desc, Module: s, Log: s.Log, DB: db, Bus: deps.Bus, Replica: replica, Issuer: cfg.Issuer}
	if desc.Writes() {
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		if cfg.Tracing != nil {
			s.Relay.Tracer = s.Tracer()
		}
		rt.Relay, rt.Writer = s.Relay, outbox.NewWriter(g, s.Relay)
	}
	routes, err := desc.Impl.setup(ctx, rt)
	if err == nil {
		err = consumers(s, rt, cfg)
	}
	if err != nil {
		s.Writes.Close()
		db.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if routes != nil {
		routes(httpapi.NewAPI(s.Mux, app.Title(desc), "1.0.0"))
	}
	s.Mux.HandleFunc("GET /asyncapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(asyncapi)
	})
	s.Mux.HandleFunc("GET "+SchemasPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(schemas)
	})
	return s, nil
}

// generation returns the database file of generation n of the read model
// whose first generation is first: the live one if n is 0.
func generation(first string, n int) (string, error) {
	g := store.GenerationsOf(first)
	if n == 0 {
		live, err := g.Live()
		if err != nil {
			return "", err
		}
		n = live
	}
	return g.Path(n), nil
}

// recordProjection records, in a read model's database that no consumer
// has fed yet, the version of the projection that will build it: a new
// generation starts out current. A database fed before generations
// existed keeps recording nothing, which Running reads as version 1.
func recordProjection(ctx context.Context, db *sql.DB, desc Service) error {
	p, err := store.ReadProgress(ctx, db)
	if err != nil || p.Projection != 0 {
		return err
	}
	fed, err := store.FedBy(ctx, db)
	if err != nil || fed {
		return err
	}
	return store.WriteProgress(ctx, db, store.Progress{Projection: desc.ProjectionVersion()})
}

// SchemasPath is where every service serves the JSON Schemas of the event
// types it publishes (Schemas), to anyone.
const SchemasPath = "/events/schemas"

// schemasJSON returns Schemas(app, desc) encoded, as served.
func schemasJSON(app App, desc Service) ([]byte, error) {
	sch, err := Schemas(app, desc)
	if err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(sch, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("schemas of %s: %w", desc.Name, err)
	}
	return append(raw, '\n'), nil
}

// consumers gives s a consumer for each one its descriptor declares, with
// the projection its setup gave it.
func consumers(s *service.Service, rt *Runtime, cfg service.Config) error {
	var errs []error
	declared := map[string]bool{}
	for _, c := range rt.Desc.Consumes {
		if c.PerSubscription {
			continue
		}
		declared[c.Name] = true
		p, ok := rt.projections[c.Name]
		if !ok || p.Apply == nil {
			errs = append(errs, fmt.Errorf("consumer %s is declared, but setup gave it no projection (Runtime.Project)", rt.App.Durable(rt.Desc, c, rt.Replica)))
			continue
		}
		reg := event.NewRegistry(c.Events...)
		s.Consumers = append(s.Consumers, cfg.Consumer(rt.App.Durable(rt.Desc, c, rt.Replica), rt.App.Stream, c.Subjects(), s.Project(reg, p)))
	}
	for name := range rt.projections {
		if !declared[name] {
			errs = append(errs, fmt.Errorf("setup gave a projection to consumer %q, which the catalogue does not declare", name))
		}
	}
	return errors.Join(errs...)
}

// Route is one HTTP route a service serves.
type Route struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Summary string `json:"summary,omitempty"`
}

// Routes lists the HTTP routes of s's API, from the same declarations that
// serve them, without building the service. A service without an API of
// its own has none.
func (s Service) Routes() []Route {
	if s.Impl.routes == nil {
		return nil
	}
	api := httpapi.NewAPI(http.NewServeMux(), s.Name, "1.0.0")
	s.Impl.routes(api)
	var out []Route
	for path, item := range api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op != nil {
				out = append(out, Route{Method: op.Method, Path: path, Summary: op.Summary})
			}
		}
	}
	order := []string{http.MethodPost, http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), slices.Index(order, a.Method)-slices.Index(order, b.Method))
	})
	return out
}
