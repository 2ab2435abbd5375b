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
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
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

// Config configures the gateway.
type Config struct {
	// DataDir holds the subscriptions database, <DataDir>/blog-gateway.db.
	DataDir  string
	Addr     string       // listen address, "host:port"
	AddrFlag string       // the flag that sets Addr, for error messages
	Logger   *slog.Logger // default: discard
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
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
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

// Build opens the subscriptions database and returns the gateway service,
// ready to Listen and Start; b must already hold the BLOG stream. The push
// workers start with the service (OnStart) and stop with it (OnStop). Build
// fails, naming the flag to change, if Secret or an Allow entry is malformed;
// a --push URL the allowlist refuses fails Start.
func Build(ctx context.Context, cfg Config, b *jetstream.Bus) (*service.Service, error) {
	cfg = cfg.withDefaults()
	allow, err := parseAllow(cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w; fix %s", err, FlagAllow)
	}
	if _, err := parseSecret(cfg.Secret); err != nil {
		return nil, fmt.Errorf("gateway: %w; fix %s", err, FlagSecret)
	}
	s := service.New(Name, cfg.Logger)
	s.Addr, s.AddrFlag = cfg.Addr, cfg.AddrFlag
	s.CORS = true
	db, err := store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "blog-gateway.db"), Migrations)
	if err != nil {
		return nil, fmt.Errorf("open gateway db: %w", err)
	}
	s.UseDB(db)
	m := newMetrics()
	if err := m.register(s.Metrics); err != nil {
		db.Close()
		return nil, fmt.Errorf("gateway: %w", err)
	}
	subs := &subStore{db: db}
	p := &pusher{
		cfg: cfg, bus: b, subs: subs, allow: allow, log: s.Log, metrics: m,
		client: newClient(allow, cfg.Timeout), running: map[string]bus.Subscription{},
	}
	ev := &events{bus: b, reg: event.Blog(), log: s.Log, metrics: m}
	s.Mux.HandleFunc("POST /events", ev.post)
	s.Mux.HandleFunc("GET /events", ev.get)
	api := httpapi.NewAPI(s.Mux, "Herald blog gateway", "1.0.0")
	registerSubscriptions(api, p, s.Log)
	documentEvents(api)
	s.OnStart = func(ctx context.Context, _ bus.Bus) error { return p.start(ctx) }
	s.OnStop = p.stop
	return s, nil
}
