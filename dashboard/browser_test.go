package dashboard_test

// Browser tests: real headless Chromium (Debian's /usr/bin/chromium) driven
// by chromedp, doing what a person does on the dashboard. Each test saves a
// screenshot to testdata/screenshots/<name>.png. They skip when Chromium
// is missing, unless HERALD_TEST_BROWSER_REQUIRED=1.
//
// Two backends serve the pages:
//   - startDashboard: static/ next to a small fake /api (fakeAPI) with
//     canned answers in the backend's JSON shapes, for the states that are
//     slow or awkward to reach for real (a crashed service, two dead
//     letters, a trace with a failed span);
//   - startRealDashboard: dashboard.New over a real shop and blog on an
//     embedded NATS (the TestReal... tests).
// Moving a fake-backed test to the real backend is changing its
// startDashboard(t) to startRealDashboard(t).url and seeding the state it
// expects (fixture lists what the tests take from the fake).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/dashboard"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

const (
	chromiumPath = "/usr/bin/chromium"
	adminToken   = "test-admin-token" // what the operator pastes
	userToken    = "test-user-token"  // what users/sessions hands out
	orderToken   = "SHOP:42"          // the order's Herald-Token
	waitFor      = 20 * time.Second   // how long any one step may take
)

// startDashboard serves the pages over the fake API for one test and
// returns the base URL. To run a test against the real backend instead,
// call startRealDashboard(t).url (dashboard.New over a running shop and
// blog, Auth on; sign in with its operator token).
func startDashboard(t *testing.T) string {
	t.Helper()
	f := newFakeAPI()
	mux := http.NewServeMux()
	mux.Handle("/api/", f)
	mux.Handle("/", http.FileServerFS(os.DirFS("static")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fixture is what the tests expect the running system to show.
var fixture = struct {
	downService   string // a service that is down when the test starts
	stoppable     string // a controllable service the test stops
	dlqConsumer   string // a consumer with two dead letters
	orderedTitle  string // the product the storefront test orders
	rejectedWord  string // moderation rejects comments with it
	firstEventSel string // the newest event's link on the events page
}{
	downService:   "products",
	stoppable:     "orders",
	dlqConsumer:   "shop-query",
	orderedTitle:  "Blue teapot",
	rejectedWord:  "orange",
	firstEventSel: "a.event-link",
}

// newBrowser starts a fresh headless Chromium with its own profile, with a
// viewport of width x height, and returns a tab's context.
func newBrowser(t *testing.T, width, height int64) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("HERALD_TEST_BROWSER_REQUIRED") == "1" {
			t.Fatalf("HERALD_TEST_BROWSER_REQUIRED=1 but %s is missing (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("skipping browser test: %s is missing (apt-get install chromium, or set HERALD_TEST_BROWSER_REQUIRED=1 to fail instead)", chromiumPath)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs the steps, each step given waitFor, and fails the test with what
// was being done.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, step := range steps {
		sctx, cancel := context.WithTimeout(ctx, waitFor)
		err := chromedp.Do(sctx, step)
		cancel()
		if err != nil {
			shot(t, ctx, "failed-"+t.Name())
			t.Fatalf("%s (step %d): %v", what, i+1, err)
		}
	}
}

// text returns the text of the first element matching sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// visible waits until an element matching sel is visible.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

// click clicks the first element matching sel once it is visible.
func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(visible(sel), chromedp.Click(chromedp.CSS(sel)))
}

// until waits until the JavaScript expression is truthy.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(waitFor))
}

// containsText is a JavaScript test that sel's text contains want.
func containsText(sel, want string) string {
	return fmt.Sprintf(`(document.querySelector(%q)?.textContent || "").includes(%q)`, sel, want)
}

// shot saves a full-page screenshot as testdata/screenshots/<name>.png.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name = strings.NewReplacer("/", "-", " ", "-").Replace(name)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signInAsOperator pastes the admin token into the header's form.
func signInAsOperator(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, "sign in as operator",
		visible("#operator-token"),
		chromedp.SendKeys(chromedp.CSS("#operator-token"), adminToken),
		chromedp.Click(chromedp.CSS("#operator-signin")),
		until(containsText("#operator-state", "Signed in as operator")))
}

func TestTopologyDrawsServicesAndADownServiceRed(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	down := fixture.downService
	do(t, ctx, "open the topology",
		chromedp.Navigate(base+"/#/"),
		visible(`svg g.svc[data-service="users"]`),
		visible(`svg g.svc.down[data-service="`+down+`"]`),
		visible(`svg g.stream`),
		until(`document.querySelectorAll("svg line.edge.publish").length >= 2`),
		until(`document.querySelectorAll("svg line.edge.consume").length >= 2`),
		until(containsText("#live-state", "Live")))
	if got := text(t, ctx, "#svc-"+down+" .state"); got != "down" {
		t.Errorf("%s's card says %q, want down", down, got)
	}
	if got := text(t, ctx, "#svc-query .state"); got != "up" {
		t.Errorf("query's card says %q while %s is down, want up", got, down)
	}
	shot(t, ctx, "topology")

	// Stop a service as the operator and see it turn red.
	signInAsOperator(t, ctx)
	stop := fixture.stoppable
	do(t, ctx, "stop "+stop,
		click(`#svc-`+stop+` button[data-action="stop"]`),
		visible(`svg g.svc.down[data-service="`+stop+`"]`),
		visible(`#svc-`+stop+` button[data-action="start"]`))
	shot(t, ctx, "topology-stopped")
}

func TestTopologyAtPhoneWidth(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 390, 844)
	do(t, ctx, "open the topology on a phone",
		chromedp.Navigate(base+"/#/"),
		visible(`svg.narrow g.svc.down[data-service="`+fixture.downService+`"]`),
		visible(`#svc-query`))
	fitsTheScreen(t, ctx, "the page")
	shot(t, ctx, "topology-phone")
}

func TestEventsOpenAnEventsJourney(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the events",
		chromedp.Navigate(base+"/#/events"),
		visible(fixture.firstEventSel),
		until(`document.querySelectorAll("table.events tbody tr").length >= 3`))
	shot(t, ctx, "events")
	do(t, ctx, "page to older events",
		click("#older"),
		until(containsText("#event-list", "seq 70 to 21")))
	do(t, ctx, "back to the newest and open one",
		click(".pager button:nth-child(2)"),
		visible(fixture.firstEventSel),
		click(fixture.firstEventSel),
		visible(`.journey li.consumer[data-outcome="applied"]`),
		visible(`.journey li.consumer[data-outcome="dead-lettered"]`),
		visible(`.waterfall .wf-bar`),
		until(containsText("pre.json", `"specversion"`)))
	shot(t, ctx, "event-journey")
}

func TestEventsAndJourneyAtPhoneWidth(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 390, 844)
	do(t, ctx, "open the events on a phone",
		chromedp.Navigate(base+"/#/events"),
		visible(fixture.firstEventSel))
	shot(t, ctx, "events-phone")
	do(t, ctx, "open one",
		click(fixture.firstEventSel),
		visible(`.journey li.consumer`),
		visible(`.waterfall .wf-bar`))
	fitsTheScreen(t, ctx, "the event page")
	shot(t, ctx, "event-journey-phone")
}

func TestDeadLettersRedriveWithConfirmation(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the dead letters without signing in",
		chromedp.Navigate(base+"/#/dlq"),
		visible(`input[data-seq="1"]`),
		chromedp.Click(chromedp.CSS(`input[data-seq="1"]`)),
		click("#dlq-redrive"),
		visible("#alert"),
		until(containsText("#alert", "operator token")))
	signInAsOperator(t, ctx)
	do(t, ctx, "select both and redrive",
		click(`input[data-seq="2"]`),
		until(containsText("#dlq-count", "2 events selected")),
		click("#dlq-redrive"),
		visible("dialog#confirm[open]"))
	want := "Give 2 events back to " + fixture.dlqConsumer
	if got := text(t, ctx, "#confirm-text"); !strings.Contains(got, want) {
		t.Errorf("the confirmation says %q, want it to say %q", got, want)
	}
	shot(t, ctx, "dlq-confirm")
	do(t, ctx, "confirm",
		click("#confirm-ok"),
		visible("#dlq-result .result"),
		until(containsText("#dlq-result", "Gave 2 events back to "+fixture.dlqConsumer)),
		until(containsText("#dlq-list", "No dead letters")),
		visible(`#dlq-result a[href^="#/event/"]`))
	shot(t, ctx, "dlq-redriven")
	do(t, ctx, "follow a redriven event to its journey",
		click(`#dlq-result a[href^="#/event/"]`),
		visible(`.journey li.consumer`))
}

func TestStorefrontOrderShowsTheQueryAnswerWithItsToken(t *testing.T) {
	for _, size := range []struct {
		name string
		w, h int64
	}{{"shop", 1280, 800}, {"shop-phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			base := startDashboard(t)
			ctx := newBrowser(t, size.w, size.h)
			do(t, ctx, "open the shop", chromedp.Navigate(base+"/#/shop"), visible("#signup"))
			signInAsOperator(t, ctx)
			do(t, ctx, "sign up",
				click("#signup button[type=submit]"),
				until(containsText("#out-signup", "201")))
			do(t, ctx, "sign in",
				click("#signin button[type=submit]"),
				until(containsText("#user-state", "Signed in as user")))
			do(t, ctx, "add a product",
				click("#product button[type=submit]"),
				until(containsText("#out-product", "201")),
				until(`document.querySelector("#or-product").value === "3"`))
			do(t, ctx, "order it",
				click("#order button[type=submit]"),
				until(containsText("#herald-token", orderToken)))
			do(t, ctx, "ask the query",
				click("#query button[type=submit]"),
				until(containsText("#consistency", "fresh")),
				until(containsText("#out-query", fixture.orderedTitle)))
			shot(t, ctx, size.name)
		})
	}
}

func TestBlogCommentIsModeratedLive(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "create a post and comment on it",
		chromedp.Navigate(base+"/#/blog"),
		click("#post button[type=submit]"),
		until(containsText("#out-post", "201")),
		until(`document.querySelector("#co-post").value !== ""`),
		click("#comment button[type=submit]"),
		until(containsText("#out-comment", "201")),
		visible(`#blog-view li[data-status="pending"]`))
	do(t, ctx, "see moderation reject it",
		visible(`#blog-view li[data-status="rejected"]`))
	if got := text(t, ctx, `#blog-view li[data-status="rejected"]`); !strings.Contains(got, fixture.rejectedWord) {
		t.Errorf("the rejected comment reads %q, want it to mention %q", got, fixture.rejectedWord)
	}
	shot(t, ctx, "blog")
}

func TestDiscardSaysItDeletesForGood(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 390, 844)
	do(t, ctx, "open the dead letters on a phone", chromedp.Navigate(base+"/#/dlq"), visible(`input[data-seq="1"]`))
	signInAsOperator(t, ctx)
	do(t, ctx, "select all of the consumer and discard",
		click(`#dlq-`+fixture.dlqConsumer+`-all`),
		until(containsText("#dlq-count", "2 events selected")),
		click("#dlq-discard"),
		visible("dialog#confirm[open]"))
	if got, want := text(t, ctx, "#confirm-text"), "Delete 2 events for good"; !strings.Contains(got, want) {
		t.Errorf("the confirmation says %q, want %q", got, want)
	}
	shot(t, ctx, "dlq-discard-phone")
	do(t, ctx, "cancel keeps them",
		click("#confirm-cancel"),
		until(`!document.querySelector("dialog#confirm").open`),
		visible(`input[data-seq="2"]`))
}

func TestAWrongOperatorTokenIsExplained(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "sign in with a wrong token and stop a service",
		chromedp.Navigate(base+"/#/"),
		visible(`#svc-`+fixture.stoppable+` button[data-action="stop"]`),
		chromedp.SendKeys(chromedp.CSS("#operator-token"), "not-the-token"),
		chromedp.Click(chromedp.CSS("#operator-signin")),
		click(`#svc-`+fixture.stoppable+` button[data-action="stop"]`),
		visible("#alert"),
		until(containsText("#alert", "401")),
		until(containsText("#alert", "admin.token")))
	shot(t, ctx, "wrong-operator-token")
}

// tabTo presses Tab (Shift+Tab if back) until the element matching sel
// has the focus, at most 40 times, and checks the focus is drawn.
func tabTo(t *testing.T, ctx context.Context, sel string, back bool) {
	t.Helper()
	var opts []chromedp.KeyOption
	if back {
		opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
	}
	for range 40 {
		at, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`document.activeElement?.matches(%q) ?? false`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		if at {
			ring, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
			if err != nil {
				t.Fatal(err)
			}
			if ring == "none" {
				t.Errorf("%s has the focus but no focus ring", sel)
			}
			return
		}
		do(t, ctx, "press tab", chromedp.KeyEvent(kb.Tab, opts...))
	}
	shot(t, ctx, "failed-"+t.Name())
	t.Fatalf("%s never got the focus by Tab", sel)
}

func TestKeyboardOnlyRedriveFromTheDeadLetters(t *testing.T) {
	base := startDashboard(t)
	ctx := newBrowser(t, 1280, 800)
	do(t, ctx, "open the dead letters", chromedp.Navigate(base+"/#/dlq"), visible(`input[data-seq="1"]`))
	tabTo(t, ctx, "#operator-token", false)
	do(t, ctx, "type the token and press Enter",
		chromedp.KeyEvent(adminToken),
		chromedp.KeyEvent(kb.Enter),
		until(containsText("#operator-state", "Signed in as operator")))
	tabTo(t, ctx, `input[data-seq="1"]`, false)
	do(t, ctx, "tick it with Space", chromedp.KeyEvent(" "), until(containsText("#dlq-count", "1 event selected")))
	tabTo(t, ctx, "#dlq-redrive", true)
	do(t, ctx, "press Enter on Redrive", chromedp.KeyEvent(kb.Enter), visible("dialog#confirm[open]"),
		until(`document.activeElement?.id === "confirm-cancel"`))
	tabTo(t, ctx, "#confirm-ok", false)
	shot(t, ctx, "keyboard-dlq-confirm")
	do(t, ctx, "confirm with Enter", chromedp.KeyEvent(kb.Enter),
		until(containsText("#dlq-result", "Gave 1 event back to "+fixture.dlqConsumer)))
}

// ---------- the fake API ----------

// fakeAPI answers /api like the dashboard backend, with canned data: a
// shop whose products service is down, a consumer with two dead letters,
// and services that behave like the shop's and the blog's.
type fakeAPI struct {
	mu       sync.Mutex
	stopped  map[string]bool // by the operator
	crashed  map[string]bool // down on their own
	dlq      []map[string]any
	comments []map[string]any
	postID   string
	reads    int // blog-query reads since the last comment
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{stopped: map[string]bool{}, crashed: map[string]bool{"products": true}}
	for i := 1; i <= 2; i++ {
		f.dlq = append(f.dlq, map[string]any{
			"seq": i, "consumer": "shop-query", "stream": "SHOP", "subject": "shop.orders.created",
			"error": "query: apply order " + strconv.Itoa(40+i) + ": unknown product 99", "attempts": 5,
			"failedAt": "2026-12-06T22:0" + strconv.Itoa(i) + ":00Z", "id": eventID(40 + i), "sequence": 40 + i,
			"event": map[string]any{"specversion": "1.0", "id": eventID(40 + i), "type": "shop.order.created.v1"},
		})
	}
	return f
}

func eventID(n int) string { return fmt.Sprintf("019aa8f0-0000-7000-8000-%012d", n) }

func (f *fakeAPI) topology() map[string]any {
	f.mu.Lock()
	stopped, crashed := map[string]bool{}, map[string]bool{}
	for k, v := range f.stopped {
		stopped[k] = v
	}
	for k, v := range f.crashed {
		crashed[k] = v
	}
	dead := len(f.dlq)
	f.mu.Unlock()
	consumer := func(durable string, rate float64, pending, dead int) map[string]any {
		return map[string]any{"durable": durable, "subjects": []string{"shop.>"}, "pending": pending, "ackPending": 0,
			"deadLettered": dead, "lagSeconds": float64(pending) * 0.2, "ackFloor": 120, "eventsPerSecond": rate}
	}
	svc := func(name, store string, publishes []string, consumes []map[string]any, relay bool) map[string]any {
		up := !stopped[name] && !crashed[name]
		m := map[string]any{"name": name, "url": "http://127.0.0.1:8081", "up": up, "ready": up, "store": store, "publishes": publishes,
			"readModel": publishes == nil, "consumes": consumes, "relay": nil, "controllable": true, "running": !stopped[name]}
		if publishes == nil {
			m["publishes"] = []string{}
		}
		if !up {
			m["store"], m["error"] = "", "Get \"http://127.0.0.1:8082/status\": connect: connection refused"
		}
		if relay && up {
			m["relay"] = map[string]any{"depth": 0, "oldestSeconds": 0, "published": 120}
		}
		if consumes == nil {
			m["consumes"] = []any{}
		}
		return m
	}
	return map[string]any{"apps": []any{
		map[string]any{"name": "shop", "stream": "SHOP", "subjects": "shop.>", "lastSeq": 120,
			"services": []any{
				svc("users", "sqlite", []string{"shop.user.created.v1"}, nil, true),
				svc("products", "sqlite", []string{"shop.product.created.v1", "shop.product.updated.v1"}, nil, true),
				svc("orders", "sqlite", []string{"shop.order.created.v1", "shop.order.cancelled.v1"}, []map[string]any{consumer("orders-products", 1.5, 0, 0)}, true),
				svc("query", "sqlite", nil, []map[string]any{consumer("shop-query", 4.2, 3, dead)}, false),
			}},
		map[string]any{"name": "blog", "stream": "BLOG", "subjects": "blog.>", "lastSeq": 30,
			"services": []any{
				svc("posts", "sqlite", []string{"blog.post.created.v1"}, nil, true),
				svc("comments", "sqlite", []string{"blog.comment.created.v1", "blog.comment.updated.v1"}, []map[string]any{consumer("comments-moderation", 0.2, 0, 0)}, true),
				svc("moderation", "none", []string{"blog.comment.moderated.v1"}, []map[string]any{consumer("moderation", 0.2, 0, 0)}, false),
				svc("blog-query", "sqlite", nil, []map[string]any{consumer("blog-query", 0.6, 0, 0)}, false),
			}},
	}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/api")
	switch {
	case p == "/topology":
		writeJSON(w, 200, f.topology())
	case p == "/live":
		f.live(w, r)
	case strings.HasPrefix(p, "/services/") && r.Method == http.MethodPost:
		if bearer(r) != adminToken {
			problem(w, 401, "the admin token is missing or wrong")
			return
		}
		parts := strings.Split(strings.TrimPrefix(p, "/services/"), "/")
		f.mu.Lock()
		f.stopped[parts[0]] = len(parts) > 1 && parts[1] == "stop"
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"name": parts[0], "running": parts[1] == "start"}) // as dashboard.New answers
	case p == "/events":
		f.events(w, r)
	case strings.HasPrefix(p, "/journey/"):
		f.journey(w, strings.TrimPrefix(p, "/journey/"))
	case p == "/dlq":
		f.mu.Lock()
		dl := append([]map[string]any{}, f.dlq...)
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"deadLetters": dl})
	case p == "/dlq/redrive" || p == "/dlq/discard":
		if bearer(r) != adminToken {
			problem(w, 401, "the admin token is missing or wrong")
			return
		}
		var in struct{ Seqs []int }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			problem(w, 400, err.Error())
			return
		}
		f.mu.Lock()
		var keep []map[string]any
		var done []int
		for _, d := range f.dlq {
			if containsInt(in.Seqs, d["seq"].(int)) {
				done = append(done, d["seq"].(int))
			} else {
				keep = append(keep, d)
			}
		}
		f.dlq = keep
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"done": done, "failed": []any{}})
	case strings.HasPrefix(p, "/proxy/"):
		f.proxy(w, r, strings.TrimPrefix(p, "/proxy"))
	default:
		problem(w, 404, "no such API: "+r.URL.Path)
	}
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// live streams the topology every second, as the backend's SSE does.
func (f *fakeAPI) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	tick := time.NewTicker(200 * time.Millisecond) // faster than the backend: the tests wait for it
	defer tick.Stop()
	for {
		b, _ := json.Marshal(f.topology())
		if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", b); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// events pages through a stream of 120 events, 50 at a time.
func (f *fakeAPI) events(w http.ResponseWriter, r *http.Request) {
	before, _ := strconv.Atoi(r.URL.Query().Get("before"))
	if before == 0 {
		before = 121
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	var evs []map[string]any
	seq := before - 1
	for ; seq >= 1 && len(evs) < limit; seq-- {
		evs = append(evs, map[string]any{
			"seq": seq, "subject": "shop.orders.created", "time": time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
			"id": eventID(seq), "type": "shop.order.created.v1", "entity": strconv.Itoa(seq),
		})
	}
	next := 0 // none older
	if seq >= 1 {
		next = seq + 1
	}
	writeJSON(w, 200, map[string]any{"events": evs, "next": next})
}

// journey answers with a real journey.Journey, so the JSON has the
// backend's tags.
func (f *fakeAPI) journey(w http.ResponseWriter, id string) {
	t0 := time.Date(2026, 12, 6, 22, 1, 0, 0, time.UTC)
	ce, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "type": "shop.order.created.v1", "source": "herald/orders",
		"subject": "42", "time": t0, "data": map[string]any{"orderId": 42, "userId": 7, "productId": 3}})
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	span := func(id, parent, svc, name string, from, to time.Duration, err string) observe.Span {
		return observe.Span{TraceID: trace, SpanID: id, ParentID: parent, Service: svc, Name: name, Kind: "internal",
			Start: t0.Add(from), End: t0.Add(to), Error: err}
	}
	j := journey.Journey{
		Event:     &journey.Event{ID: id, Type: "shop.order.created.v1", Source: "herald/orders", Subject: "shop.orders.created", Entity: "42", Time: t0, Data: ce},
		TraceID:   trace,
		Committed: &journey.Step{Service: "orders", At: t0},
		Published: &journey.Published{Stream: "SHOP", Sequence: 120, At: t0.Add(3 * time.Millisecond), After: 3 * time.Millisecond},
		Consumers: []journey.Consumer{
			{Service: "query", Consumer: "shop-query", Outcome: journey.Applied, At: t0.Add(9 * time.Millisecond), After: 9 * time.Millisecond, Attempt: 1},
			{Service: "orders", Consumer: "orders-audit", Outcome: journey.DeadLettered, At: t0.Add(40 * time.Millisecond), After: 40 * time.Millisecond, Attempt: 5, Error: "audit: disk full", DLQSeq: 1},
			{Service: "users", Consumer: "users-stats", Outcome: journey.Pending, Waiting: 3, AckFloor: 117},
		},
		Spans: []observe.Span{
			span("a1", "", "orders", "POST /orders", 0, 5*time.Millisecond, ""),
			span("a2", "a1", "orders", "outbox.commit", time.Millisecond, 2*time.Millisecond, ""),
			span("a3", "a1", "orders", "relay.publish SHOP", 2500*time.Microsecond, 3*time.Millisecond, ""),
			span("b1", "a3", "query", "consume shop-query", 6*time.Millisecond, 9*time.Millisecond, ""),
			span("c1", "a3", "orders", "consume orders-audit", 10*time.Millisecond, 40*time.Millisecond, "audit: disk full"),
		},
	}
	writeJSON(w, 200, j)
}

// proxy stands in for the services' own APIs.
func (f *fakeAPI) proxy(w http.ResponseWriter, r *http.Request, p string) {
	var body map[string]any
	if r.Body != nil {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			problem(w, 400, err.Error())
			return
		}
	}
	switch {
	case r.Method == "POST" && p == "/users/users":
		writeJSON(w, 201, map[string]any{"id": 7, "name": body["name"], "email": body["email"], "version": 1})
	case r.Method == "POST" && p == "/users/sessions":
		writeJSON(w, 201, map[string]any{"token": userToken, "tokenType": "Bearer", "userId": 7, "role": "user", "expiresAt": time.Now().Add(time.Hour)})
	case r.Method == "POST" && p == "/products/products":
		if bearer(r) != adminToken {
			problem(w, 403, "adding a product needs the admin token")
			return
		}
		writeJSON(w, 201, map[string]any{"id": 3, "title": body["title"], "image": body["image"], "version": 1})
	case r.Method == "POST" && p == "/orders/orders":
		if bearer(r) != userToken {
			problem(w, 401, "sign in first")
			return
		}
		w.Header().Set("Herald-Token", orderToken)
		w.Header().Set("Herald-Event-Id", eventID(120))
		writeJSON(w, 201, map[string]any{"id": 42, "userId": body["userId"], "productId": body["productId"], "status": "placed", "version": 1})
	case r.Method == "GET" && p == "/query/users/7/products":
		if bearer(r) != userToken {
			problem(w, 401, "sign in first")
			return
		}
		if r.Header.Get("Herald-After") == orderToken {
			w.Header().Set("Herald-Consistency", "fresh")
		}
		writeJSON(w, 200, []any{map[string]any{"id": 3, "title": fixture.orderedTitle, "image": "teapot.jpg"}})
	case r.Method == "POST" && p == "/posts/posts":
		f.mu.Lock()
		f.postID = "019aa8f1-0000-7000-8000-000000000001"
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"id": f.postID, "title": body["title"]})
	case r.Method == "POST" && strings.HasPrefix(p, "/comments/posts/"):
		c := map[string]any{"id": "019aa8f2-0000-7000-8000-000000000001", "content": body["content"], "status": "pending"}
		f.mu.Lock()
		f.comments = append(f.comments, c)
		f.reads = 0
		f.mu.Unlock()
		writeJSON(w, 201, c)
	case r.Method == "GET" && p == "/blog-query/posts":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.postID == "" {
			writeJSON(w, 200, map[string]any{})
			return
		}
		f.reads++
		var cs []map[string]any
		for _, c := range f.comments {
			c2 := map[string]any{"id": c["id"], "content": c["content"], "status": "pending"}
			if f.reads > 2 { // moderation decides after a couple of reads
				if strings.Contains(fmt.Sprint(c["content"]), fixture.rejectedWord) {
					c2["status"] = "rejected"
				} else {
					c2["status"] = "approved"
				}
			}
			cs = append(cs, c2)
		}
		if cs == nil {
			cs = []map[string]any{}
		}
		writeJSON(w, 200, map[string]any{f.postID: map[string]any{"id": f.postID, "title": "Hello, Herald", "comments": cs}})
	default:
		problem(w, 404, "the fake has no "+r.Method+" "+p)
	}
}

// ---------- the real backend ----------

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

// fitsTheScreen fails the test if what the browser shows is wider than
// its window: a phone would have to scroll sideways.
func fitsTheScreen(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Errorf("%s is wider than the screen", what)
	}
}
