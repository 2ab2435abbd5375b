// Package gateway is the HTTP face of the blog's event bus. It implements the
// contract of the tutorial's Express event bus on Herald's durable JetStream
// stream BLOG, so that tutorial services written in any language join
// unchanged:
//
//   - POST /events stores an event, posted in the tutorial's {type, data}
//     shape or as a CloudEvent (structured or binary mode), and answers
//     {"status":"OK"} only once the bus has stored it.
//   - GET /events returns every blog event, in stream order, each in the
//     shape it was posted in; services replay it on start.
//   - Push subscriptions POST every event to each subscriber's URL, in order,
//     signed as Standard Webhooks, retried with backoff and dead-lettered
//     after Config.MaxDeliver attempts. They are configured by flag (--push)
//     or through the /subscriptions API.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// Name is the gateway's service name.
const Name = "gateway"

// Source is the CloudEvents source of events posted in the tutorial's shape.
const Source = "/blog/gateway"

// Flags named in error messages, so an operator knows what to change.
const (
	FlagPush   = "--push"
	FlagAllow  = "--push-allow"
	FlagSecret = "--push-secret"
)

// Config configures the gateway's push subscriptions. Where it listens and
// keeps its database are the catalogue's to say (catalogue.Build).
type Config struct {
	// Push lists subscriber URLs (from --push). Each gets a subscription
	// configured by flag: tutorial format, every type, events from its
	// creation on. Flag subscriptions are managed only by this list: one it
	// no longer names is deleted at start, with its durable consumer (the
	// API refuses to delete them).
	Push []string
	// Secret is the Standard Webhooks secret, "whsec_<base64 of 24 to 64
	// bytes>" (the prefix may be left out), that signs deliveries to flag
	// subscriptions and to API subscriptions created without a secret of
	// their own. "" leaves them unsigned.
	Secret string
	// Allow lists the push targets allowed: "loopback", "private", "any", a
	// CIDR, an IP or a host name. Nil or empty means {"loopback"}.
	// Link-local, cloud metadata, unspecified and multicast addresses are
	// refused even if listed.
	Allow []string
	// Timeout bounds one delivery attempt. Default 10s.
	Timeout time.Duration
	// MaxDeliver is how many times a delivery is attempted before the event
	// is dead-lettered for that subscriber. Default 15.
	MaxDeliver int
	// Backoff is the wait after the n-th failed attempt; the last value
	// repeats. Default 1s, 2s, 5s, 10s, 30s, 1m, 2m, 5m.
	Backoff []time.Duration
	// External are the event types owned by a Herald service of the blog
	// that POST /events takes from outside all the same, because their
	// owner runs outside Herald (herald up gateway alone, for the
	// tutorial's Node services; or --external). Every other type a Herald
	// service owns is refused with 403: an outside client must not forge
	// what posts, comments or moderation own.
	External []string
	// Tokens, if set, are the bearer tokens POST and GET /events require
	// (--gateway-token), each with the event types it may post ("*" for
	// any the gateway takes). The operator token is accepted too. Nil
	// leaves /events open, as the tutorial's bus is.
	Tokens map[string][]string
}

func (c Config) withDefaults() Config {
	if len(c.Allow) == 0 {
		c.Allow = []string{"loopback"}
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 15
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
			30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
	}
	return c
}

// ConsumerPrefix begins the name of every push subscription's durable
// consumer: blog-push-<id>.
const ConsumerPrefix = "blog-push-"

// Descriptor describes the gateway, configured by cfg, to the catalogue. It
// takes events from outside Herald on any blog.event.<type> subject, and
// pushes every event to subscribers, one durable consumer per subscription.
// Its setup fails, naming the flag to change, if Secret or an Allow entry
// is malformed; a --push URL the allowlist refuses fails Start.
func Descriptor(cfg Config) catalogue.Service {
	cfg = cfg.withDefaults()
	return catalogue.Service{
		Name:       Name,
		Summary:    "The blog bus's HTTP face: POST /events in, GET /events for history, pushes to subscribers' POST /events.",
		Addr:       "127.0.0.1:4005",
		Migrations: Migrations,
		Ingress:    event.BlogEventSubjects,
		External:   cfg.External,
		Consumes: []catalogue.Consumer{{
			Name: ConsumerPrefix, PerSubscription: true, All: event.BlogEventSubjects,
			Doc: "Pushes every event (or those of the subscription's types) to the subscriber's URL, in order, retrying with backoff.",
		}},
		CORS: true,
		Check: func() error {
			if _, err := parseAllow(cfg.Allow); err != nil {
				return fmt.Errorf("gateway: %w; fix %s", err, FlagAllow)
			}
			if _, err := parseSecret(cfg.Secret); err != nil {
				return fmt.Errorf("gateway: %w; fix %s", err, FlagSecret)
			}
			return nil
		},
		Impl: catalogue.Implement(func(_ context.Context, rt *catalogue.Runtime) (handlers, error) {
			return setup(rt, cfg)
		}, register),
	}
}

// handlers are what the gateway's routes serve.
type handlers struct {
	events *events
	pusher *pusher
}

// setup builds the gateway on rt: its event intake and history, which
// validate the data of the app's own event types (rt.App's registry)
// against their JSON Schemas, compiled here once, and their rules, and its push
// workers, which start with the service (OnStart) and stop with it
// (OnStop).
func setup(rt *catalogue.Runtime, cfg Config) (handlers, error) {
	if rt.Bus == nil {
		return handlers{}, errors.New("the gateway reads and writes the JetStream bus itself; build it with catalogue.Deps.Bus")
	}
	allow, err := parseAllow(cfg.Allow)
	if err != nil {
		return handlers{}, fmt.Errorf("%w; fix %s", err, FlagAllow)
	}
	m := newMetrics()
	if err := m.register(rt.Module.Metrics); err != nil {
		return handlers{}, err
	}
	p := &pusher{
		cfg: cfg, bus: rt.Bus, subs: &subStore{db: rt.DB}, allow: allow, log: rt.Log, metrics: m,
		client: newClient(allow, cfg.Timeout), running: map[string]worker{}, module: rt.Module,
	}
	rt.Module.OnStart = func(ctx context.Context, _ bus.Bus) error { return p.start(ctx) }
	rt.Module.MoreConsumers = p.consumers
	if len(cfg.Tokens) > 0 {
		rt.Module.ForeignTokens = func(r *http.Request) bool { return r.URL.Path == "/events" }
	}
	rt.Module.OnStop = p.stop
	reg := rt.App.Registry()
	sch, err := compileSchemas(reg.Defs())
	if err != nil {
		return handlers{}, err
	}
	ev := &events{bus: rt.Bus, funnel: rt.Bus.NewFunnel(), reg: reg, schemas: sch, log: rt.Log, metrics: m, tracer: rt.Module.Tracer(), doors: newDoors(rt.App, cfg)}
	return handlers{events: ev, pusher: p}, nil
}

// register serves POST and GET /events (plain handlers: they read and
// stream bodies themselves, documented in the API by documentEvents) and
// the subscriptions API.
func register(api huma.API, h handlers, log *slog.Logger) {
	plain := func(method string, serve func(w http.ResponseWriter, r *http.Request)) {
		api.Adapter().Handle(&huma.Operation{Method: method, Path: "/events"}, func(ctx huma.Context) {
			r, w := humago.Unwrap(ctx)
			serve(w, r)
		})
	}
	plain(http.MethodPost, func(w http.ResponseWriter, r *http.Request) { h.events.post(w, r) })
	plain(http.MethodGet, func(w http.ResponseWriter, r *http.Request) { h.events.get(w, r) })
	registerSubscriptions(api, h.pusher, log)
	documentEvents(api)
}
