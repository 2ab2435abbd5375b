package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// TestARedriveIsInTheJourneyWithTracingOff: with no spans at all (the
// services are not traced), the journey of a redriven event still says
// the query dead-lettered it and after how many attempts, when and by
// whom it was redriven, and that the query applied it then: the redrive's
// message stays in the stream and says so.
func TestARedriveIsInTheJourneyWithTracingOff(t *testing.T) {
	e := newEnv(t)
	var fixed atomic.Bool
	var applied atomic.Int32
	s := map[string]*svc{"products": e.start("products"), "query": e.start("query", withWrap(buggyUntilFixed(&fixed, &applied)))}
	createProduct(t, s["products"], "poison", "skull.png")
	dead := waitDeadLetters(t, e, "shop-query", 1)
	id := dead[0].ID

	src := journey.Sources{
		Bus: e.bus, Catalogue: catalogue.Catalogue{shop.App()},
		Service: func(ctx context.Context, name string, q url.Values) (service.Journey, error) {
			var j service.Journey
			sv, ok := s[name]
			if !ok {
				return j, fmt.Errorf("%s is not running", name)
			}
			resp, err := http.Get(sv.URL() + "/journey?" + q.Encode())
			if err != nil {
				return j, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return j, fmt.Errorf("%s: %s", name, resp.Status)
			}
			return j, json.NewDecoder(resp.Body).Decode(&j)
		},
	}
	step := func(outcome string) (journey.Journey, journey.Consumer) {
		t.Helper()
		var j journey.Journey
		var c journey.Consumer
		testenv.Eventually(t, 20*time.Second, func() error {
			var err error
			if j, err = journey.Of(context.Background(), src, id); err != nil {
				return err
			}
			for _, c = range j.Consumers {
				if c.Consumer == "shop-query" && c.Outcome == outcome {
					return nil
				}
			}
			return fmt.Errorf("shop-query is not %s: %+v", outcome, j.Consumers)
		})
		return j, c
	}
	if _, c := step(journey.DeadLettered); c.Redriven || len(c.Redrives) != 0 {
		t.Fatalf("a dead letter not yet redriven shows as redriven: %+v", c)
	}

	fixed.Store(true)
	before := time.Now()
	pos, err := e.bus.RedriveWith(context.Background(), dead[0].Seq, jetstream.RedriveOptions{By: "ann via a test"})
	if err != nil {
		t.Fatal(err)
	}
	j, c := step(journey.Applied)
	if len(j.Spans) != 0 {
		t.Fatalf("the services are not traced, yet the journey has %d spans", len(j.Spans))
	}
	if !c.Redriven || len(c.Redrives) != 1 || c.DeadAttempts != 3 || !strings.Contains(c.DeadError, "bug: cannot handle poison") {
		t.Fatalf("the redriven event's step: %+v", c)
	}
	r := c.Redrives[0]
	if r.By != "ann via a test" || r.Sequence != pos || r.DLQSeq != dead[0].Seq || r.At.Before(before.Add(-time.Second)) || r.At.After(time.Now()) {
		t.Errorf("the redrive: %+v, want by ann at %d, after %v", r, pos, before)
	}
	var text strings.Builder
	if err := journey.Write(&text, j); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"applied", "dead-lettered after 3 attempts (bug: cannot handle poison); redriven at ", " by ann via a test"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("herald trace's text lacks %q:\n%s", want, text.String())
		}
	}
	if n := applied.Load(); n != 1 {
		t.Errorf("the redriven event was applied %d times, want once", n)
	}
}
