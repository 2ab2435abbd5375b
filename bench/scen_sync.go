package bench

import (
	"context"
	"fmt"

	"github.com/heraldev/herald/shop"
)

// runSyncVsAsync measures Herald's query service against a query service
// that calls users, orders and products over HTTP for every request (the
// design Herald's replaces), on the same data; then stops products and
// measures the share of requests each still answers right. Both are asked
// with the operator's token, which the synchronous one passes on to the
// services it calls.
func runSyncVsAsync(ctx context.Context, e *env) error {
	data, err := e.shopData(ctx, "data")
	if err != nil {
		return err
	}
	bus, _, err := e.startBus(ctx, "bus", false)
	if err != nil {
		return err
	}
	svc := map[string]*proc{}
	for _, name := range shop.App().Names() {
		p, err := e.serve(ctx, name, bus.URL("bus"), data)
		if err != nil {
			return err
		}
		svc[name] = p
	}
	anchor, err := e.anchor(ctx, "sync-query",
		"--users", svc["users"].URL("users"), "--orders", svc["orders"].URL("orders"), "--products", svc["products"].URL("products"))
	if err != nil {
		return err
	}
	qURL, sURL := svc["query"].URL("query"), anchor.URL("sync-query")
	answers := e.answers()
	if err := checkAnswers(ctx, qURL, e.adminToken(), answers); err != nil {
		return fmt.Errorf("herald query: %w", err)
	}
	if err := checkAnswers(ctx, sURL, e.adminToken(), answers); err != nil {
		return fmt.Errorf("synchronous query: %w", err)
	}
	up := &Comparison{
		Name: "all services up",
		Show: []string{"req_per_s", "p50_ms", "p99_ms"},
		Targets: []Target{
			{Text: "Herald's query ≥ 10x the synchronous query's throughput", Key: "req_per_s", Ratio: true, Op: ">=", Value: 10},
		},
	}
	err = e.alternate(ctx, up,
		e.httpSide("sync-vs-async", "herald query (own read model)", qURL, "query", Load{Raw: e.userProducts(qURL, answers)}),
		e.httpSide("sync-vs-async", "synchronous query (calls users, orders, products)", "", "", Load{Raw: e.userProducts(sURL, answers)}))
	if err != nil {
		return err
	}

	if err := e.procs.stop(svc["products"]); err != nil {
		e.note("stopping products: %v", err)
	}
	e.p.Printf("  products stopped")
	down := &Comparison{
		Name: "products stopped",
		Show: []string{"ok_share", "req_per_s"},
		Targets: []Target{
			{Text: "Herald's query still answers 100% of requests right", Key: "ok_share", Op: ">=", Value: 1},
		},
	}
	outage := func(what, url string) side {
		s := e.httpSide("sync-vs-async, products stopped", what, "", "", Load{Raw: e.userProducts(url, answers)})
		s.warm = nil // the synchronous query answers nothing right now
		return s
	}
	return e.alternate(ctx, down, outage("herald query", qURL), outage("synchronous query", sURL))
}
