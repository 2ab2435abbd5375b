package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// apps are Herald's apps and their services, in start order. A service name
// is unique across apps, so a command line may name either.
var apps = []struct {
	name     string
	stream   string
	subjects string
	services []string
}{
	{"shop", shop.Stream, shop.StreamSubjects, shop.Services},
	{"blog", blog.Stream, blog.StreamSubjects, append(slices.Clone(blog.Services), "gateway")},
}

// targetNames are the words up and serve accept: apps, then services.
func targetNames() []string {
	var names []string
	for _, a := range apps {
		names = append(names, a.name)
	}
	for _, a := range apps {
		names = append(names, a.services...)
	}
	return names
}

// target is one service to run.
type target struct{ app, name string }

// resolve expands apps into their services and returns the services to run
// in start order, each once. No names means every app.
func resolve(names []string) ([]target, error) {
	if len(names) == 0 {
		for _, a := range apps {
			names = append(names, a.name)
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		known := false
		for _, a := range apps {
			if n == a.name {
				for _, s := range a.services {
					want[s] = true
				}
				known = true
			} else if slices.Contains(a.services, n) {
				want[n], known = true, true
			}
		}
		if !known {
			return nil, fmt.Errorf("unknown app or service %q (want one of %s)", n, strings.Join(targetNames(), ", "))
		}
	}
	var out []target
	for _, a := range apps {
		for _, s := range a.services {
			if want[s] {
				out = append(out, target{a.name, s})
			}
		}
	}
	return out, nil
}

// ensureStreams creates the streams of the apps that ts belong to.
func ensureStreams(ctx context.Context, b *jetstream.Bus, ts []target) error {
	for _, a := range apps {
		if slices.ContainsFunc(ts, func(t target) bool { return t.app == a.name }) {
			if err := b.EnsureStream(ctx, a.stream, a.subjects); err != nil {
				return err
			}
		}
	}
	return nil
}

// build builds the service t with the settings in f.
func (m *Main) build(ctx context.Context, t target, f serviceFlags, b *jetstream.Bus) (*service.Service, error) {
	addr := map[string]struct{ addr, flag string }{
		"users":      {f.UsersAddr, "--users-addr (HERALD_USERS_ADDR)"},
		"products":   {f.ProductsAddr, "--products-addr (HERALD_PRODUCTS_ADDR)"},
		"orders":     {f.OrdersAddr, "--orders-addr (HERALD_ORDERS_ADDR)"},
		"query":      {f.QueryAddr, "--query-addr (HERALD_QUERY_ADDR)"},
		"posts":      {f.PostsAddr, "--posts-addr (HERALD_POSTS_ADDR)"},
		"comments":   {f.CommentsAddr, "--comments-addr (HERALD_COMMENTS_ADDR)"},
		"blog-query": {f.BlogQueryAddr, "--blog-query-addr (HERALD_BLOG_QUERY_ADDR)"},
		"moderation": {f.ModerationAddr, "--moderation-addr (HERALD_MODERATION_ADDR)"},
		"gateway":    {f.GatewayAddr, "--gateway-addr (HERALD_GATEWAY_ADDR)"},
	}[t.name]
	cfg := service.Config{
		DataDir: f.Data, DB: f.DB, Replica: f.Replica, Addr: addr.addr, AddrFlag: addr.flag, Logger: m.Log,
		MaxDeliver: f.MaxDeliver, AckWait: f.AckWait,
	}
	if !writeServices[t.name] {
		cfg.DB = "" // checked by checkTargets: --db names a write service's database
	}
	switch {
	case t.app == "shop":
		return shop.Build(ctx, t.name, cfg, b)
	case t.name == "gateway":
		return gateway.Build(ctx, gateway.Config{
			DataDir: f.Data, Addr: addr.addr, AddrFlag: addr.flag, Logger: m.Log,
			Push: f.Push, Secret: f.PushSecret, Allow: f.PushAllow,
			Timeout: f.PushTimeout, MaxDeliver: f.PushMaxDeliver, Backoff: f.PushBackoff,
		}, b)
	default:
		return blog.Build(ctx, t.name, blog.Config{Config: cfg, BannedWords: f.BannedWords}, b)
	}
}

// writeServices are the services that can keep their data in PostgreSQL
// (--db): every one with an outbox. The query services' read models are
// SQLite files local to each replica, and the gateway keeps its
// subscriptions in its own SQLite file.
var writeServices = map[string]bool{
	"users": true, "products": true, "orders": true, "posts": true, "comments": true, "moderation": true,
}

// queryServices are the services --replica names a replica of.
var queryServices = map[string]bool{"query": true, "blog-query": true}

// plan resolves names (see resolve) into the services to run and checks
// that f fits them (see checkTargets), before anything starts.
func plan(names []string, f serviceFlags) ([]target, error) {
	ts, err := resolve(names)
	if err != nil {
		return nil, err
	}
	return ts, checkTargets(ts, f)
}

// checkTargets refuses flags that do not fit the services ts: --db names the
// database of exactly one write service (database per service: two write
// services never share one), and --replica needs a query service.
func checkTargets(ts []target, f serviceFlags) error {
	var writers []string
	hasQuery := false
	for _, t := range ts {
		if writeServices[t.name] {
			writers = append(writers, t.name)
		}
		hasQuery = hasQuery || queryServices[t.name]
	}
	if f.DB != "" && len(writers) != 1 {
		if len(writers) == 0 {
			return errors.New("--db (HERALD_DB) names the database of a write service (users, products, orders, posts, comments or moderation), and none is being run")
		}
		return fmt.Errorf("--db (HERALD_DB) names one database, but %s each need their own: run each write service as its own `herald serve <service> --db ...`",
			strings.Join(writers, ", "))
	}
	if f.Replica != "" && !hasQuery {
		return errors.New("--replica (HERALD_REPLICA) names a query replica, and neither query nor blog-query is being run")
	}
	return nil
}
