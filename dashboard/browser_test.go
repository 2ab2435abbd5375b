package dashboard_test

// Browser tests: real headless Chromium (Debian's /usr/bin/chromium) driven
// by chromedp, doing what a person does on the dashboard. Each test saves a
// screenshot to testdata/screenshots/<name>.png. They skip when Chromium
// is missing, unless HERALD_TEST_BROWSER_REQUIRED=1.
//
// Two backends serve the pages:
//   - startDashboard (browser_fakeapi_test.go): static/ next to a small
//     fake /api (fakeAPI) with canned answers in the backend's JSON shapes,
//     for the states that are slow or awkward to reach for real (a crashed
//     service, two dead letters, a trace with a failed span); the tests
//     against it are in browser_fake_test.go;
//   - startRealDashboard (browser_real_test.go): dashboard.New over a real
//     shop and blog on an embedded NATS (the TestReal... tests, beside it).
// Moving a fake-backed test to the real backend is changing its
// startDashboard(t) to startRealDashboard(t).url and seeding the state it
// expects (fixture lists what the tests take from the fake).
//
// This file holds what every browser test shares: starting Chromium, the
// steps (do, visible, click, until, tabTo, signInAsOperator), the checks
// (text, containsText, fitsTheScreen), the screenshots and the fixture.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

const (
	chromiumPath = "/usr/bin/chromium"
	adminToken   = "test-admin-token" // what the operator pastes
	userToken    = "test-user-token"  // what users/sessions hands out
	orderToken   = "SHOP:42"          // the order's Herald-Token
	waitFor      = 20 * time.Second   // how long any one step may take
)

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
