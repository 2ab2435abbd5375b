// Package catalogue is where Herald's services describe themselves, so that
// the system knows its own shape. Each service package exports a Service
// descriptor: its name, default address, migrations, the event types it owns,
// the consumers it runs and how to build it. Each app (the shop, the blog)
// lists its services once, in an App. Everything that needs the system's
// shape reads it: `herald up` and `herald serve` build and start services
// from it (Build, Start), `herald catalogue` prints it (Describe), every
// service serves its part as an AsyncAPI document (AsyncAPI), and Check
// refuses an inconsistent catalogue before anything starts.
//
// Adding a service is one new package that exports a Service, and one line
// in its app's list.
package catalogue

import (
	"fmt"
	"slices"
	"strings"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/store"
)

// Catalogue is every app a binary runs, in start order.
type Catalogue []App

// App is one app: a stream and the services around it.
type App struct {
	Name     string // "shop"; unique in a catalogue
	Summary  string // one sentence: what the app is
	Stream   string // the JetStream stream carrying the app's events: "SHOP"
	Subjects string // the stream's subjects: "shop.>"
	// Services are the app's services, in start order. Names are unique
	// across the catalogue, so a command line may name a service alone.
	Services []Service
}

// Service describes one service: everything the system needs to know of it
// without running it, and how to build it.
type Service struct {
	Name    string // unique across the catalogue: "users"; lower-case letters, digits and '-'
	Summary string // one sentence: what the service does
	Addr    string // default listen address, "host:port"
	// Migrations are the service's database schema, in order (see
	// store.Migration). A service that owns events includes outbox.Schema;
	// one that consumes events includes store.ProcessedSchema.
	Migrations []store.Migration
	// Publishes are the event types the service owns: only it emits them,
	// through its transactional outbox. A service that owns events is a
	// write service: it may keep its data in PostgreSQL (--db) and run as
	// several instances on it.
	Publishes []event.Def
	// Ingress, for a service that relays events from outside Herald onto
	// the bus (the blog's gateway), is the subject pattern those events
	// travel on ("blog.event.>"). Empty for every other service.
	Ingress string
	// External, for a service with Ingress, are the event types owned by
	// other services of the app that it takes from outside as well,
	// because those owners run outside Herald (the tutorial's Node
	// services). Every other type a service of the app owns it refuses,
	// and the bus refuses to let it publish (see Identities): an outside
	// client cannot forge what a Herald service owns.
	External []string
	// Consumes are the durable consumers the service runs.
	Consumes []Consumer
	// ReadModel marks a query service: its database is a SQLite read model
	// local to each replica (--replica), built from the stream's history
	// when new, never a shared database.
	ReadModel bool
	// Projection is the version of a read model's projection: what its
	// tables hold and how events fold into them. Raise it when that
	// changes; at its next start the service rebuilds its read model from
	// the stream into a new generation beside the live one, serving the
	// old one meanwhile (see Running). 0 means 1.
	Projection int
	// CORS lets browser pages from any origin call the service.
	CORS bool
	// Check, if set, reports a setting the service cannot run with (a
	// malformed flag). Catalogue.Check and Build call it before anything
	// is opened.
	Check func() error
	// Impl builds the service (see Implement).
	Impl Impl
}

// Consumer describes one durable consumer of a service.
type Consumer struct {
	// Name is the durable consumer's name. Empty means the service's own
	// name, <app>-<service> (shop-orders), with -<replica> appended for a
	// named replica of a read model (shop-query-a). With PerSubscription it
	// is a prefix.
	Name string
	Doc  string // what the consumer does with what it receives
	// Events are the event types the consumer applies; it receives their
	// subjects and refuses (retries, then dead-letters) any other type or
	// any data that does not validate.
	Events []event.Def
	// All, if set, is a subject pattern the consumer receives in full,
	// events of any type (the gateway's pushes receive "blog.event.>");
	// Events then lists the types it knows.
	All string
	// PerSubscription means the service runs one durable consumer per
	// subscription created at run time, named Name followed by the
	// subscription's id (the gateway's blog-push-<id>); Build subscribes
	// none of them.
	PerSubscription bool
}

// Base returns the name of s's database file and default durable consumer:
// "<app>-<service>", without the service's own app prefix (shop-users,
// blog-query for blog-query).
func (a App) Base(s Service) string {
	return a.Name + "-" + strings.TrimPrefix(s.Name, a.Name+"-")
}

// Title returns the title of s's HTTP API: "Herald <app> <service>".
func (a App) Title(s Service) string {
	return "Herald " + a.Name + " " + strings.TrimPrefix(s.Name, a.Name+"-")
}

// Durable returns the name of consumer c of s: c.Name, or, if empty, the
// service's base name with the replica's name (see Consumer.Name).
func (a App) Durable(s Service, c Consumer, replica string) string {
	if c.Name != "" {
		return c.Name
	}
	if s.ReadModel && replica != "" {
		return a.Base(s) + "-" + replica
	}
	return a.Base(s)
}

// Service returns the app's service called name.
func (a App) Service(name string) (Service, bool) {
	i := slices.IndexFunc(a.Services, func(s Service) bool { return s.Name == name })
	if i < 0 {
		return Service{}, false
	}
	return a.Services[i], true
}

// Names returns the app's service names, in start order.
func (a App) Names() []string {
	names := make([]string, len(a.Services))
	for i, s := range a.Services {
		names[i] = s.Name
	}
	return names
}

// With returns a copy of a with services added at the end of its list.
func (a App) With(services ...Service) App {
	a.Services = append(slices.Clone(a.Services), services...)
	return a
}

// Registry returns the registry of every event type the app's services own.
func (a App) Registry() *event.Registry {
	r := event.NewRegistry()
	for _, s := range a.Services {
		r.Add(s.Publishes...)
	}
	return r
}

// Owner returns the service of the app that owns event type typ.
func (a App) Owner(typ string) (Service, bool) {
	for _, s := range a.Services {
		if slices.ContainsFunc(s.Publishes, func(d event.Def) bool { return d.Type == typ }) {
			return s, true
		}
	}
	return Service{}, false
}

// Writes reports whether s is a write service: one that owns events and
// keeps them in a transactional outbox, and so may keep its data in
// PostgreSQL.
func (s Service) Writes() bool { return len(s.Publishes) > 0 }

// Subjects returns the subjects c receives: All, or the subjects of its
// Events in the order declared, each once.
func (c Consumer) Subjects() []string {
	if c.All != "" {
		return []string{c.All}
	}
	var out []string
	for _, d := range c.Events {
		if s := d.Subject(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Receives reports whether c receives events on subject.
func (c Consumer) Receives(subject string) bool {
	return slices.ContainsFunc(c.Subjects(), func(p string) bool { return SubjectMatches(p, subject) })
}

// Names returns every service name in the catalogue, app by app.
func (c Catalogue) Names() []string {
	var names []string
	for _, a := range c {
		names = append(names, a.Names()...)
	}
	return names
}

// App returns the app called name.
func (c Catalogue) App(name string) (App, bool) {
	i := slices.IndexFunc(c, func(a App) bool { return a.Name == name })
	if i < 0 {
		return App{}, false
	}
	return c[i], true
}

// Lookup returns the service called name and its app.
func (c Catalogue) Lookup(name string) (App, Service, bool) {
	for _, a := range c {
		if s, ok := a.Service(name); ok {
			return a, s, true
		}
	}
	return App{}, Service{}, false
}

// Consumer returns the service running the durable consumer called
// durable, and its declaration: an exact name first, then a read model
// replica's (<name>-<replica>) or a per-subscription consumer's
// (<prefix><id>).
func (c Catalogue) Consumer(durable string) (App, Service, Consumer, bool) {
	for pass := range 2 { // exact names first, then prefixes
		for _, a := range c {
			for _, s := range a.Services {
				for _, cons := range s.Consumes {
					name := a.Durable(s, cons, "")
					switch {
					case durable == name,
						pass == 1 && cons.PerSubscription && strings.HasPrefix(durable, name),
						pass == 1 && s.ReadModel && cons.Name == "" && strings.HasPrefix(durable, name+"-"):
						return a, s, cons, true
					}
				}
			}
		}
	}
	return App{}, Service{}, Consumer{}, false
}

// Target is one service of an app, to run.
type Target struct {
	App     App
	Service Service
}

// Resolve expands names, each an app or a service, into the services to
// run: in the catalogue's order (app by app, each app's services in start
// order), each once. No names means every app. An unknown name is an error
// that lists the names there are.
func (c Catalogue) Resolve(names []string) ([]Target, error) {
	if len(names) == 0 {
		for _, a := range c {
			names = append(names, a.Name)
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		if a, ok := c.App(n); ok {
			for _, s := range a.Services {
				want[s.Name] = true
			}
			continue
		}
		if _, _, ok := c.Lookup(n); !ok {
			return nil, fmt.Errorf("unknown app or service %q (want one of %s)", n, strings.Join(c.TargetNames(), ", "))
		}
		want[n] = true
	}
	var out []Target
	for _, a := range c {
		for _, s := range a.Services {
			if want[s.Name] {
				out = append(out, Target{a, s})
			}
		}
	}
	return out, nil
}

// TargetNames are the words Resolve accepts: the apps, then the services.
func (c Catalogue) TargetNames() []string {
	var names []string
	for _, a := range c {
		names = append(names, a.Name)
	}
	return append(names, c.Names()...)
}

// SubjectMatches reports whether every subject that subject matches also
// matches pattern: whether a consumer of pattern receives what is sent on
// subject. In both, "*" stands for any one token and a final ">" for one or
// more; a subject without wildcards is a single subject.
func SubjectMatches(pattern, subject string) bool {
	ps, ss := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, p := range ps {
		if p == ">" && i == len(ps)-1 {
			return len(ss) > i
		}
		if i >= len(ss) || ss[i] == ">" {
			return false
		}
		if p != "*" && p != ss[i] {
			return false
		}
	}
	return len(ps) == len(ss)
}

// ProjectionVersion returns the version of s's projection: Projection, or
// 1 if it is not set.
func (s Service) ProjectionVersion() int { return max(s.Projection, 1) }

// Upcast returns data, a stored CloudEvent, as the catalogue's current
// upcasters read it (a shop.product.created.v1 as v2), with its id,
// subject, time, entity version and traceparent kept; an event whose type
// has no newer version comes back as it was read. It is what a redrive
// with upcasting republishes. An event no app knows, or whose data does
// not validate, is an error.
func (c Catalogue) Upcast(data []byte) ([]byte, error) {
	e, err := event.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("upcast: %w", err)
	}
	for _, a := range c {
		reg := a.Registry()
		if _, ok := reg.Def(e.Type); !ok {
			continue
		}
		up, err := reg.Checked(e)
		if err != nil {
			return nil, fmt.Errorf("upcast event %s: %w", e.ID, err)
		}
		return up.Encode()
	}
	return nil, fmt.Errorf("upcast event %s: no app of the catalogue knows its type %s", e.ID, e.Type)
}
