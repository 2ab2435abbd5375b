// Package blog is the blog app's catalogue: the four services of the
// well-known "blog with posts, comments, moderation and query"
// microservices tutorial (posts, comments, moderation and blog-query) and
// the gateway, the HTTP face of its bus, around the stream BLOG. They keep
// the tutorial's routes, JSON shapes and event names, so its browser client
// and its services work with Herald's. `herald up`, `herald serve` and the
// end-to-end tests all build the blog's services from App.
package blog

import (
	"context"
	"slices"

	"github.com/heraldev/herald/blog/comments"
	"github.com/heraldev/herald/blog/moderation"
	"github.com/heraldev/herald/blog/posts"
	"github.com/heraldev/herald/blog/query"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
)

// Stream is the JetStream stream that carries every blog event.
const Stream = event.BlogStream

// StreamSubjects are the subjects Stream holds.
const StreamSubjects = event.BlogSubjects

// Options are the settings of the blog's services beyond service.Config.
type Options struct {
	// BannedWords are the words that make moderation reject a comment
	// (case-insensitive substring match). Nil or empty means
	// moderation.DefaultBannedWords, ["orange"]; a blank word is an error.
	BannedWords []string
	// Gateway configures the gateway's push subscriptions.
	Gateway gateway.Config
}

// App returns the blog's catalogue entry with o. A new blog service is one
// new package exporting a catalogue.Service, and one line here.
func App(o Options) catalogue.App {
	return catalogue.App{
		Name:     "blog",
		Summary:  "The tutorial's blog: posts, comments, moderation and a query service answering all posts with their comments.",
		Stream:   Stream,
		Subjects: StreamSubjects,
		Services: []catalogue.Service{
			posts.Descriptor,
			comments.Descriptor,
			moderation.Descriptor(o.BannedWords),
			query.Descriptor,
			gateway.Descriptor(o.Gateway),
		},
	}
}

// Services are the names of the blog's services, in start order, the
// gateway left out: the tutorial's four.
var Services = slices.DeleteFunc(App(Options{}).Names(), func(n string) bool { return n == gateway.Name })

// Config configures one blog service: service.Config (whose Replica
// applies to blog-query only, and DB to every service but blog-query and
// the gateway) and the blog's Options.
type Config struct {
	service.Config
	BannedWords []string       // see Options
	Gateway     gateway.Config // see Options
}

// Build builds the blog's service called name (catalogue.Build), ready to
// Listen and Start. pub is where its outbox relay publishes, and, if it is
// the bus itself, what its consumers subscribe to. An unknown name or a
// blank banned word is an error, and nothing is opened.
func Build(ctx context.Context, name string, cfg Config, pub outbox.Publisher) (*service.Service, error) {
	b, _ := pub.(*jetstream.Bus)
	return catalogue.Build(ctx, App(Options{BannedWords: cfg.BannedWords, Gateway: cfg.Gateway}), name, cfg.Config, catalogue.Deps{Bus: b, Publisher: pub})
}
