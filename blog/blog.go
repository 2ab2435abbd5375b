// Package blog wires the blog's four services (posts, comments, moderation
// and blog-query), each on its own SQLite database, onto the service runtime.
// They reproduce the well-known "blog with posts, comments, moderation and
// query" microservices tutorial: the same routes, JSON shapes and event
// names, so its browser client and its services work with Herald's.
// `herald up`, `herald serve` and the end-to-end tests all build services
// here.
package blog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/heraldev/herald/blog/comments"
	"github.com/heraldev/herald/blog/moderation"
	"github.com/heraldev/herald/blog/posts"
	"github.com/heraldev/herald/blog/query"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// Stream is the JetStream stream that carries every blog event.
const Stream = event.BlogStream

// StreamSubjects are the subjects Stream holds.
const StreamSubjects = event.BlogSubjects

// Services are the blog's service names, in start order.
var Services = []string{"posts", "comments", "moderation", "blog-query"}

// Config configures one blog service: service.Config (whose Replica
// applies to blog-query only, and DB to every service but blog-query) and
// moderation's banned words.
type Config struct {
	service.Config
	// BannedWords are the words that make moderation reject a comment
	// (case-insensitive substring match). Nil or empty means
	// moderation.DefaultBannedWords, ["orange"]; a blank word is an error.
	BannedWords []string
}

// Build opens the named service's database and returns the service, ready to
// Listen and Start. pub is where its outbox relay publishes. An unknown name
// or a blank banned word is an error, and nothing is opened.
func Build(ctx context.Context, name string, cfg Config, pub outbox.Publisher) (*service.Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	var migrations []store.Migration
	switch name {
	case "posts":
		migrations = posts.Migrations
	case "comments":
		migrations = comments.Migrations
	case "moderation":
		migrations = moderation.Migrations
	case "blog-query":
		migrations = query.Migrations
	default:
		return nil, fmt.Errorf("unknown blog service %q (want one of %v)", name, Services)
	}
	var mod *moderation.Moderator
	if name == "moderation" {
		var err error
		if mod, err = moderation.New(cfg.BannedWords); err != nil {
			return nil, fmt.Errorf("moderation: %w", err)
		}
	}

	// Files and consumers are named blog-<name> (blog-posts.db,
	// blog-query.db), and blog-query-<replica> for a named query replica.
	base := cfg.Name("blog-"+strings.TrimPrefix(name, "blog-"), name == "blog-query")
	s := service.New(name, cfg.Logger)
	s.Addr, s.AddrFlag = cfg.Addr, cfg.AddrFlag
	s.CORS = true // the tutorial's browser client runs on another port
	db, err := cfg.OpenDB(ctx, base, migrations)
	if err != nil {
		return nil, fmt.Errorf("open %s db: %w", name, err)
	}
	g := s.UseDB(db)

	reg := event.Blog()
	switch name {
	case "posts":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		posts.Register(httpapi.NewAPI(s.Mux, "Herald blog posts", "1.0.0"), posts.New(db, outbox.NewWriter(g, s.Relay)), s.Log)
	case "comments":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		comments.Register(httpapi.NewAPI(s.Mux, "Herald blog comments", "1.0.0"), comments.New(db, outbox.NewWriter(g, s.Relay)), s.Log)
		s.Consumers = append(s.Consumers, cfg.Consumer(base, Stream, comments.Subjects, s.Project(reg, service.Projection{Apply: comments.Apply, Committed: notify(s.Relay)})))
	case "moderation":
		s.Relay = outbox.NewRelay(g, pub, s.Log)
		s.Consumers = append(s.Consumers, cfg.Consumer(base, Stream, moderation.Subjects, s.Project(reg, service.Projection{Apply: mod.Apply, Committed: notify(s.Relay)})))
	case "blog-query":
		query.Register(httpapi.NewAPI(s.Mux, "Herald blog query", "1.0.0"), query.New(db), s.Log)
		s.Consumers = append(s.Consumers, cfg.Consumer(base, Stream, query.Subjects, s.Project(reg, service.Projection{Apply: query.Apply})))
	}
	return s, nil
}

// notify wakes relay once a transaction that applied events has committed,
// so the events it added to the outbox are published at once instead of at
// the relay's next poll.
func notify(relay *outbox.Relay) func([]event.Envelope) {
	return func([]event.Envelope) { relay.Notify() }
}
