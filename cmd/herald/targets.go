package main

import (
	"context"
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
	switch {
	case t.app == "shop":
		return shop.Build(ctx, t.name, shop.Config{
			DataDir: f.Data, Addr: addr.addr, AddrFlag: addr.flag, Logger: m.Log,
			MaxDeliver: f.MaxDeliver, AckWait: f.AckWait,
		}, b)
	case t.name == "gateway":
		return gateway.Build(ctx, gateway.Config{
			DataDir: f.Data, Addr: addr.addr, AddrFlag: addr.flag, Logger: m.Log,
			Push: f.Push, Secret: f.PushSecret, Allow: f.PushAllow,
			Timeout: f.PushTimeout, MaxDeliver: f.PushMaxDeliver, Backoff: f.PushBackoff,
		}, b)
	default:
		return blog.Build(ctx, t.name, blog.Config{
			DataDir: f.Data, Addr: addr.addr, AddrFlag: addr.flag, Logger: m.Log,
			MaxDeliver: f.MaxDeliver, AckWait: f.AckWait, BannedWords: f.BannedWords,
		}, b)
	}
}
