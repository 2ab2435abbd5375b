package dashboard_test

// The real backend of the browser tests (startRealDashboard) and the
// TestReal... tests that drive the pages against it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/dashboard"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// realSystem is the shop and the blog running for real behind
// dashboard.New, started as herald up starts them.
type realSystem struct {
	url      string // the dashboard
	operator string // an operator (admin) token
	nats     *testenv.NATS
	running  *catalogue.Running
	// curse makes the query's consumer fail every event whose data holds
	// cursed, while it is set: a bug, fixed by clearing it.
	curse atomic.Bool
}

// cursed is what the query's consumer fails on while realSystem.curse is
// set.
const cursed = "Cursed"

// realOptions change what startRealDashboard runs.
type realOptions struct {
	push []string // the gateway's --push subscriber URLs
}

// startRealDashboard serves dashboard.New over a real shop and blog, the
// gateway included: an embedded NATS JetStream and every service of the
// catalogue started by catalogue.Start as herald up starts them (so the
// dashboard can stop and start them), on random ports with SQLite in a
// temp dir, tokens signed and verified as in herald up.
func startRealDashboard(t *testing.T, opts ...func(*realOptions)) *realSystem {
	t.Helper()
	var o realOptions
	for _, f := range opts {
		f(&o)
	}
	dir := t.TempDir()
	key, _, err := auth.Ensure(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	issuer := &auth.Issuer{Key: key}
	operator, _, err := issuer.IssueOperator(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	verifier := func() *auth.Verifier {
		v, err := auth.NewVerifierFile(filepath.Join(dir, "keys", auth.KeySetFile))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"))
	// Traced as herald up traces: spans in an in-memory ring.
	tracing, err := observe.New(context.Background(), observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tracing.Shutdown(context.Background()) })
	sys := &realSystem{operator: operator, nats: n}
	cat := catalogue.Catalogue{shop.App(), blog.App(blog.Options{Gateway: gateway.Config{
		Push: o.push, Timeout: 2 * time.Second, MaxDeliver: 1000, Backoff: []time.Duration{50 * time.Millisecond},
	}})}
	targets, err := cat.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	curse := func(h bus.Handler) bus.Handler {
		return func(ctx context.Context, m bus.Message) error {
			if sys.curse.Load() && bytes.Contains(m.Data, []byte(cursed)) {
				return fmt.Errorf("query: cannot apply event %s: it is %s (a bug the test fixes)", m.ID, cursed)
			}
			return h(ctx, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sys.running, err = catalogue.Start(ctx, n.Bus, targets, func(tg catalogue.Target) service.Config {
		cfg := service.Config{DataDir: dir, Addr: "127.0.0.1:0", MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond},
			AckWait: 5 * time.Second, Auth: verifier(), Tracing: tracing}
		switch tg.Service.Name {
		case "users":
			cfg.Issuer = issuer
		case "query":
			cfg.Wrap = curse
		}
		return cfg
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := sys.running.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	url := func(name string) string {
		if s := sys.running.Service(name); s != nil {
			return s.URL()
		}
		return ""
	}
	ask := func(ctx context.Context, name, path string, v any) error {
		if !sys.running.Runs(name) {
			return fmt.Errorf("%s is not running", name)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url(name)+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+operator)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("ask %s%s: %s", name, path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	h, err := dashboard.New(dashboard.Options{
		Catalogue: cat,
		Bus:       n.Bus,
		Ask:       ask,
		URL:       url,
		Auth:      verifier(),
		Control:   control{sys.running},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sys.url = srv.URL
	return sys
}

// control lets the dashboard stop and start the running services, as
// herald up's does.
type control struct{ r *catalogue.Running }

func (c control) Stop(ctx context.Context, name string) error  { return c.r.StopService(ctx, name) }
func (c control) Start(ctx context.Context, name string) error { return c.r.StartService(ctx, name) }
func (c control) Running(name string) bool                     { return c.r.Runs(name) }

// signIn pastes the real operator token.
func (s *realSystem) signIn(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "sign in as operator",
		visible("#operator-token"),
		chromedp.SetValue(chromedp.CSS("#operator-token"), s.operator),
		chromedp.Click(chromedp.CSS("#operator-signin")),
		until(containsText("#operator-state", "Signed in as operator")))
}

// TestRealShopDrawnAndAnOrderFollowedToTheQuery drives the pages against
// the real backend: the topology of a running shop, the storefront's
// order answered fresh by the query, the order's event in the stream and
// its journey, then products stopped and drawn red.
func TestRealShopDrawnAndAnOrderFollowedToTheQuery(t *testing.T) {
	sys := startRealDashboard(t)
	base := sys.url
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the topology of the running shop",
		chromedp.Navigate(base+"/#/"),
		visible(`svg g.svc.up[data-service="users"]`),
		visible(`svg g.svc.up[data-service="products"]`),
		visible(`svg g.svc.up[data-service="orders"]`),
		visible(`svg g.svc.up[data-service="query"]`),
		visible(`svg g.svc.up[data-service="moderation"]`),
		until(`document.querySelectorAll("svg line.edge.consume").length >= 1`))
	sys.signIn(t, ctx)
	do(t, ctx, "order through the storefront",
		chromedp.Navigate(base+"/#/shop"),
		click("#signup button[type=submit]"),
		until(containsText("#out-signup", "201")),
		click("#signin button[type=submit]"),
		until(containsText("#user-state", "Signed in as user")),
		click("#product button[type=submit]"),
		until(containsText("#out-product", "201")),
		until(`document.querySelector("#or-product").value !== ""`),
		click("#order button[type=submit]"),
		until(containsText("#out-order", "201")),
		until(`(document.querySelector("#herald-token")?.textContent || "(none)") !== "(none)"`),
		click("#query button[type=submit]"),
		until(containsText("#out-query", "200")),
		until(containsText("#consistency", "fresh")),
		until(containsText("#out-query", fixture.orderedTitle)))
	shot(t, ctx, "real-shop")
	do(t, ctx, "follow the order's event to the query",
		click(`#out-order a[href^="#/event/"]`),
		visible(`.journey li.step`),
		visible(`.journey li.consumer[data-consumer="shop-query"][data-outcome="applied"]`))
	shot(t, ctx, "real-journey")
	do(t, ctx, "see the order in the stream",
		chromedp.Navigate(base+"/#/events"),
		visible("a.event-link"),
		until(containsText("table.events", "shop.order.created")))
	shot(t, ctx, "real-events")
	do(t, ctx, "stop products from the topology: red, and the query still up",
		chromedp.Navigate(base+"/#/"),
		click(`#svc-products button[data-action="stop"]`),
		visible(`svg g.svc.down[data-service="products"]`),
		visible(`#svc-products button[data-action="start"]`),
		visible(`svg g.svc.up[data-service="query"]`))
	shot(t, ctx, "real-topology-products-down")
	do(t, ctx, "ask the query while products is stopped",
		chromedp.Navigate(base+"/#/shop"),
		visible(`#services-strip li[data-service="products"][data-state="stopped"]`),
		click("#query button[type=submit]"),
		until(containsText("#out-query", "200")),
		until(containsText("#out-query", fixture.orderedTitle)))
	do(t, ctx, "start products again from the storefront",
		click(`#services-strip li[data-service="products"] button[data-action="start"]`),
		visible(`#services-strip li[data-service="products"][data-state="up"]`))
}

// TestRealStoppedServiceCatchesUpWhileTheQueryAnswers stops orders from
// the storefront, adds a product orders must learn of, and watches its
// consumer's pending count grow on the topology while the query answers;
// started again, orders catches up and takes an order of the new product.
func TestRealStoppedServiceCatchesUpWhileTheQueryAnswers(t *testing.T) {
	sys := startRealDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	pending := `#svc-orders tr[data-consumer="shop-orders"] td:nth-of-type(3)`
	do(t, ctx, "sign up and sign in", chromedp.Navigate(sys.url+"/#/shop"))
	sys.signIn(t, ctx)
	do(t, ctx, "sign up and sign in",
		click("#signup button[type=submit]"),
		until(containsText("#out-signup", "201")),
		click("#signin button[type=submit]"),
		until(containsText("#user-state", "Signed in as user")))
	do(t, ctx, "stop orders from the storefront",
		click(`#services-strip li[data-service="orders"] button[data-action="stop"]`),
		visible(`#services-strip li[data-service="orders"][data-state="stopped"]`))
	do(t, ctx, "add a product while orders is stopped",
		chromedp.SetValue(chromedp.CSS("#pr-title"), "Green mug"),
		click("#product button[type=submit]"),
		until(containsText("#out-product", "201")))
	do(t, ctx, "see orders' consumer fall behind while the query answers",
		chromedp.Navigate(sys.url+"/#/"),
		visible(`svg g.svc.down[data-service="orders"]`),
		until(fmt.Sprintf(`(document.querySelector(%q)?.textContent || "") === "1"`, pending)),
		visible(`svg g.svc.up[data-service="query"]`))
	shot(t, ctx, "real-orders-stopped-behind")
	do(t, ctx, "start orders and see it catch up",
		click(`#svc-orders button[data-action="start"]`),
		visible(`svg g.svc.up[data-service="orders"]`),
		until(fmt.Sprintf(`(document.querySelector(%q)?.textContent || "") === "0"`, pending)))
	do(t, ctx, "order the product orders learned of while stopped",
		chromedp.Navigate(sys.url+"/#/shop"),
		until(`document.querySelector("#or-product").value !== ""`),
		click("#order button[type=submit]"),
		until(containsText("#out-order", "201")),
		click("#query button[type=submit]"),
		until(containsText("#consistency", "fresh")),
		until(containsText("#out-query", "Green mug")))
	shot(t, ctx, "real-orders-caught-up")
}

// TestRealBlogCommentWithOrangeIsRejected comments "orange" on a new post
// and watches the blog query's answer turn it from pending to rejected.
func TestRealBlogCommentWithOrangeIsRejected(t *testing.T) {
	sys := startRealDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "post and comment orange",
		chromedp.Navigate(sys.url+"/#/blog"),
		click("#post button[type=submit]"),
		until(containsText("#out-post", "201")),
		until(`document.querySelector("#co-post").value !== ""`),
		click("#comment button[type=submit]"),
		until(containsText("#out-comment", "201")),
		visible(`#blog-view li[data-status="rejected"]`))
	if got := text(t, ctx, `#blog-view li[data-status="rejected"]`); !strings.Contains(got, fixture.rejectedWord) {
		t.Errorf("the rejected comment reads %q", got)
	}
	shot(t, ctx, "real-blog")
}

// TestRealDeadLetterRedrivenIsAppliedInItsJourney: a product the query's
// consumer cannot apply (a bug) is dead-lettered after its attempts; once
// the bug is fixed, the operator redrives it from the page, and its journey
// shows the query applied it.
func TestRealDeadLetterRedrivenIsAppliedInItsJourney(t *testing.T) {
	sys := startRealDashboard(t)
	sys.curse.Store(true)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the storefront", chromedp.Navigate(sys.url+"/#/shop"))
	sys.signIn(t, ctx)
	do(t, ctx, "add a product the query cannot apply",
		chromedp.SetValue(chromedp.CSS("#pr-title"), cursed+" teapot"),
		click("#product button[type=submit]"),
		until(containsText("#out-product", "201")))
	testenv.Eventually(t, 20*time.Second, func() error {
		dls, err := sys.nats.Bus.DeadLetters(context.Background(), "shop-query")
		if err != nil || len(dls) != 1 {
			return fmt.Errorf("%d dead letters of shop-query (%v)", len(dls), err)
		}
		return nil
	})
	do(t, ctx, "see it in the dead letters with its error",
		chromedp.Navigate(sys.url+"/#/dlq"),
		visible(`input[data-consumer="shop-query"]`),
		until(containsText("#dlq-list", "it is "+cursed)))
	sys.curse.Store(false) // the fix
	do(t, ctx, "redrive it",
		click(`input[data-consumer="shop-query"]`),
		click("#dlq-redrive"),
		visible("dialog#confirm[open]"),
		until(containsText("#confirm-text", "Give 1 event back to shop-query")),
		click("#confirm-ok"),
		until(containsText("#dlq-result", "Gave 1 event back to shop-query")),
		until(containsText("#dlq-list", "No dead letters")))
	shot(t, ctx, "real-dlq-redriven")
	do(t, ctx, "follow it to the query, applied",
		click(`#dlq-result a[href^="#/event/"]`),
		visible(`.journey li.consumer[data-consumer="shop-query"][data-outcome="applied"]`),
		until(containsText(`.journey li.consumer[data-consumer="shop-query"] .redriven`, "dead-lettered after 3 attempts")),
		until(containsText(`.journey li.consumer[data-consumer="shop-query"] .redriven`, "it is "+cursed)),
		visible(`.waterfall`))
	shot(t, ctx, "real-dlq-journey")
}

// TestRealPushSubscriberDownIsShownRetrying: the gateway pushes the blog's
// events to a subscriber whose port refuses connections; the topology
// shows its subscription's consumer retrying, with the error, until the
// subscriber listens and takes the events.
func TestRealPushSubscriberDownIsShownRetrying(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	sys := startRealDashboard(t, func(o *realOptions) { o.push = []string{"http://" + addr + "/events"} })
	ctx := newBrowser(t, 1280, 800)
	failing := `#svc-gateway tr.failing[data-failing^="` + gateway.ConsumerPrefix + `"]`
	do(t, ctx, "create a post the gateway pushes",
		chromedp.Navigate(sys.url+"/#/blog"),
		click("#post button[type=submit]"),
		until(containsText("#out-post", "201")))
	do(t, ctx, "see the subscription retrying on the topology",
		chromedp.Navigate(sys.url+"/#/"),
		visible(failing),
		until(containsText(failing, "retrying")),
		until(containsText(failing, "refused")),
		visible(`svg line.edge.consume.failing`))
	shot(t, ctx, "real-topology-push-retrying")
	var got atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got.Add(1) })}
	var ln2 net.Listener
	testenv.Eventually(t, 10*time.Second, func() error {
		ln2, err = net.Listen("tcp", addr)
		return err
	})
	go srv.Serve(ln2)
	t.Cleanup(func() { srv.Close() })
	do(t, ctx, "see it settle once the subscriber listens",
		until(fmt.Sprintf(`!document.querySelector(%q)`, failing)))
	if got.Load() == 0 {
		t.Fatal("the subscriber received nothing")
	}
}
