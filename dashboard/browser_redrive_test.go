package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
)

// waitDeadLetters waits until consumer has n dead letters, and returns
// them.
func (s *realSystem) waitDeadLetters(t *testing.T, consumer string, n int) []bus.DeadLetter {
	t.Helper()
	var dls []bus.DeadLetter
	testenv.Eventually(t, 20*time.Second, func() error {
		var err error
		if dls, err = s.nats.Bus.DeadLetters(context.Background(), consumer); err != nil || len(dls) != n {
			return fmt.Errorf("%d dead letters of %s, want %d (%v)", len(dls), consumer, n, err)
		}
		return nil
	})
	return dls
}

// waitApplied waits until service says it applied event id.
func (s *realSystem) waitApplied(t *testing.T, svc, id string) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		req, _ := http.NewRequest(http.MethodGet, s.running.Service(svc).URL()+"/journey?event="+id, nil)
		req.Header.Set("Authorization", "Bearer "+s.operator)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var j service.Journey
		if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || j.Applied == nil {
			return fmt.Errorf("%s has not applied %s (%v)", svc, id, err)
		}
		return nil
	})
}

// TestRealRedriveConfirmationShowsTheDryRun: two products the query could
// not apply are dead-lettered; the bug is fixed and one of them reaches
// the query another way (published again). On the dead letters page,
// filtered to the query's product events, the operator selects both: the
// confirmation shows the backend's dry run (one goes back to shop-query,
// the other is skipped as already applied), the redrive lands, the
// skipped one stays with its reason, and the redriven one's journey says
// when and by whom it was redriven.
func TestRealRedriveConfirmationShowsTheDryRun(t *testing.T) {
	sys := startRealDashboard(t)
	sys.curse.Store(true)
	ctx := newBrowser(t, 1280, 900)
	do(t, ctx, "open the storefront", chromedp.Navigate(sys.url+"/#/shop"))
	sys.signIn(t, ctx)
	for _, title := range []string{cursed + " teapot", cursed + " kettle"} {
		do(t, ctx, "add a product the query cannot apply: "+title,
			chromedp.SetValue(chromedp.CSS("#pr-title"), title),
			click("#product button[type=submit]"),
			until(containsText("#out-product", "201")),
			until(containsText("#out-product", title)))
	}
	dls := sys.waitDeadLetters(t, "shop-query", 2)
	sys.curse.Store(false) // the fix
	teapot, kettle := dls[0], dls[1]
	// The kettle's event reaches the query again, as a relay republishing
	// it after the bus's duplicate window would: applied, so its dead
	// letter is stale.
	if err := sys.nats.Bus.Publish(context.Background(), kettle.Subject, "again/"+kettle.ID, kettle.Data); err != nil {
		t.Fatal(err)
	}
	sys.waitApplied(t, "query", kettle.ID)

	do(t, ctx, "filter the dead letters to the query's product events",
		chromedp.Navigate(sys.url+"/#/dlq"),
		visible(`input[data-consumer="shop-query"]`),
		chromedp.SetValue(chromedp.CSS("#dlq-f-consumer"), "shop-query"),
		chromedp.SetValue(chromedp.CSS("#dlq-f-type"), event.ProductCreatedV2), // what products writes
		chromedp.SetValue(chromedp.CSS("#dlq-f-since"), "1h"),
		click("#dlq-filter"),
		until(`document.querySelector("#dlq-list").getAttribute("aria-busy") === "false"`),
		visible(fmt.Sprintf(`input[data-seq="%d"]`, teapot.Seq)),
		visible(fmt.Sprintf(`input[data-seq="%d"]`, kettle.Seq)))
	do(t, ctx, "select both and ask to redrive",
		click(`#dlq-shop-query-all`),
		until(containsText("#dlq-count", "2 events selected")),
		click("#dlq-redrive"),
		visible("dialog#confirm[open]"),
		until(containsText("#confirm-text", "Give 1 event back to shop-query")),
		until(containsText("#confirm-text", "1 event is left")),
		until(containsText(fmt.Sprintf(`#dlq-plan li[data-seq="%d"][data-action="redrive"]`, teapot.Seq), "query has not applied it")),
		until(containsText(fmt.Sprintf(`#dlq-plan li[data-seq="%d"][data-action="already-applied"]`, kettle.Seq), "already applied by query at ")),
		until(containsText("#confirm-ok", "Redrive 1 event")))
	shot(t, ctx, "real-dlq-confirm-dry-run")
	do(t, ctx, "confirm: the teapot goes back, the kettle stays",
		click("#confirm-ok"),
		until(containsText("#dlq-result", "Gave 1 event back to shop-query")),
		until(containsText("#dlq-result", "1 left in the dead letters")),
		until(containsText("#dlq-result", "discard it with herald dlq discard "+strconv.FormatUint(kettle.Seq, 10))),
		visible(fmt.Sprintf(`input[data-seq="%d"]`, kettle.Seq)),
		until(fmt.Sprintf(`!document.querySelector('input[data-seq="%d"]')`, teapot.Seq)))
	shot(t, ctx, "real-dlq-redriven-one-skipped")
	if left := sys.waitDeadLetters(t, "shop-query", 1); left[0].Seq != kettle.Seq {
		t.Fatalf("left in the DLQ: %+v, want the kettle's", left)
	}
	do(t, ctx, "follow the teapot to the query: applied, redriven by the operator",
		click(`#dlq-result a[href^="#/event/"]`),
		visible(`.journey li.consumer[data-consumer="shop-query"][data-outcome="applied"]`),
		until(containsText(`.journey li.consumer[data-consumer="shop-query"] .redriven`, "dead-lettered after 3 attempts")),
		until(containsText(`.journey li.consumer[data-consumer="shop-query"] .redriven .redrive`, "by operator at 127.0.0.1 via the dashboard")))
	shot(t, ctx, "real-dlq-redrive-journey")
}
