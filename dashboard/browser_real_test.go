package dashboard_test

// The real backend of the browser tests (startRealDashboard) and the
// TestReal... tests that drive the pages against it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/dashboard"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// realSystem is the shop and the blog running for real behind
// dashboard.New.
type realSystem struct {
	url      string // the dashboard
	operator string // an operator (admin) token
	nats     *testenv.NATS
	svcs     map[string]*testenv.Service
}

// startRealDashboard serves dashboard.New over a real shop and blog: an
// embedded NATS JetStream, their services (the blog's gateway left out) on
// random ports with SQLite in a temp dir, tokens signed and verified as in
// herald up.
func startRealDashboard(t *testing.T) *realSystem {
	t.Helper()
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
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"),
		testenv.Stream{Name: shop.Stream, Subjects: []string{shop.StreamSubjects}},
		testenv.Stream{Name: blog.Stream, Subjects: []string{blog.StreamSubjects}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sys := &realSystem{operator: operator, nats: n, svcs: map[string]*testenv.Service{}}
	var mu sync.Mutex
	urls := map[string]string{}
	config := func(name string) service.Config {
		cfg := service.Config{DataDir: dir, Addr: "127.0.0.1:0", MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond},
			AckWait: 5 * time.Second, Auth: verifier()}
		if name == "users" {
			cfg.Issuer = issuer
		}
		return cfg
	}
	start := func(name string, svc *service.Service, err error) {
		if err != nil {
			t.Fatal(err)
		}
		sys.svcs[name] = testenv.StartService(ctx, t, svc, n.Bus)
		mu.Lock()
		urls[name] = sys.svcs[name].URL()
		mu.Unlock()
	}
	for _, name := range shop.Services {
		svc, err := shop.Build(ctx, name, config(name), n.Bus)
		start(name, svc, err)
	}
	for _, name := range blog.Services {
		svc, err := blog.Build(ctx, name, blog.Config{Config: config(name)}, n.Bus)
		start(name, svc, err)
	}
	blogApp := blog.App(blog.Options{})
	blogApp.Services = slices.DeleteFunc(blogApp.Services, func(s catalogue.Service) bool { return !slices.Contains(blog.Services, s.Name) })
	url := func(name string) string {
		mu.Lock()
		defer mu.Unlock()
		return urls[name]
	}
	ask := func(ctx context.Context, name, path string, v any) error {
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
		Catalogue: catalogue.Catalogue{shop.App(), blogApp},
		Bus:       n.Bus,
		Ask:       ask,
		URL:       url,
		Auth:      verifier(),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sys.url = srv.URL
	return sys
}

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
	sys.svcs["products"].MustStop()
	do(t, ctx, "see products down and the query up",
		chromedp.Navigate(base+"/#/"),
		visible(`svg g.svc.down[data-service="products"]`),
		visible(`svg g.svc.up[data-service="query"]`))
	shot(t, ctx, "real-topology-products-down")
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

// TestRealDeadLetterRedriven puts a dead letter of shop-query in the DLQ
// as the bus does, and redrives it from the page.
func TestRealDeadLetterRedriven(t *testing.T) {
	sys := startRealDashboard(t)
	env, err := event.New("/shop/orders", "shop.order.created.v1", "77", 1, map[string]int{"id": 77, "userId": 1, "productId": 1})
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.nats.Bus.PublishHeader(context.Background(), "dlq.shop-query", "dlq/"+env.ID, map[string]string{
		jetstream.HeaderConsumer: "shop-query", jetstream.HeaderStream: shop.Stream,
		jetstream.HeaderSequence: "1", jetstream.HeaderSubject: "shop.order.created",
		jetstream.HeaderMsgID: env.ID, jetstream.HeaderError: "query: unknown product 1", jetstream.HeaderAttempts: "3",
		jetstream.HeaderFailedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}, data); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the dead letters", chromedp.Navigate(sys.url+"/#/dlq"))
	sys.signIn(t, ctx)
	do(t, ctx, "redrive it",
		click(`input[data-consumer="shop-query"]`),
		click("#dlq-redrive"),
		visible("dialog#confirm[open]"),
		until(containsText("#confirm-text", "Give 1 event back to shop-query")),
		click("#confirm-ok"),
		until(containsText("#dlq-result", "Gave 1 event back to shop-query")),
		until(containsText("#dlq-list", "No dead letters")))
	shot(t, ctx, "real-dlq-redriven")
}
