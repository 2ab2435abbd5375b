package dashboard_test

// The browser tests against the fake backend (startDashboard): what a
// person does on each page, at desktop and phone widths, and by keyboard.

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

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
