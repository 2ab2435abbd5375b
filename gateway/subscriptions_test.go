package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
)

// consumerGone fails the test if the BLOG stream still has consumer name.
func (e *env) consumerGone(name string) {
	e.t.Helper()
	js, err := njs.New(e.nc)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := js.Consumer(context.Background(), event.BlogStream, name); !errors.Is(err, njs.ErrConsumerNotFound) {
		e.t.Errorf("consumer %s: %v, want it deleted", name, err)
	}
}

func problemSays(t *testing.T, a answer, code int, says string) {
	t.Helper()
	if a.code != code || a.header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(a.body), says) {
		t.Errorf("got %s, want a %d problem saying %q", a, code, says)
	}
}

// TestSubscriptionAPICreatesListsGetsAndDeletes walks a subscription through
// the API, and checks that deleting it stops its deliveries and removes its
// durable consumer.
func TestSubscriptionAPICreatesListsGetsAndDeletes(t *testing.T) {
	sub := newSubscriber(t, nil)
	e := newEnv(t)
	e.postEvent(tutorial("old")) // before the subscription: not delivered
	raw := fmt.Sprintf(`{"url":%q,"secret":%q}`, sub.url(), testSecret)
	a := send(t, "POST", e.url("/subscriptions"), jsonCT("application/json"), raw)
	if a.code != http.StatusCreated || strings.Contains(string(a.body), "whsec_") {
		t.Fatalf("create: %s", a)
	}
	var s gateway.SubscriptionView
	json.Unmarshal(a.body, &s)
	if a.header.Get("Location") != "/subscriptions/"+s.ID || len(s.ID) != 12 || !s.Signed || s.Format != "tutorial" ||
		s.ConfiguredBy != "api" || s.StartSeq != 2 || len(s.Types) != 0 {
		t.Fatalf("created %+v, Location %s", s, a.header.Get("Location"))
	}
	problemSays(t, send(t, "POST", e.url("/subscriptions"), jsonCT("application/json"), raw), 409, "already subscribed")

	e.postEvent(tutorial("new"))
	if got := sub.waitOK(1); postID(t, got[0].body) != "new" {
		t.Fatalf("delivered %s", got[0].body)
	}
	var list struct {
		Subscriptions []gateway.SubscriptionView `json:"subscriptions"`
	}
	testenv.Eventually(t, 5*time.Second, func() error {
		a := send(t, "GET", e.url("/subscriptions"), nil, "")
		json.Unmarshal(a.body, &list)
		if a.code != 200 || len(list.Subscriptions) != 1 || list.Subscriptions[0].ID != s.ID || list.Subscriptions[0].Pending != 0 {
			return fmt.Errorf("list: %s", a)
		}
		return nil
	})
	if a := send(t, "GET", e.url("/subscriptions/"+s.ID), nil, ""); a.code != 200 || !strings.Contains(string(a.body), `"pending":0`) {
		t.Errorf("get: %s", a)
	}
	problemSays(t, send(t, "GET", e.url("/subscriptions/nope"), nil, ""), 404, "does not exist")

	if a := send(t, "DELETE", e.url("/subscriptions/"+s.ID), nil, ""); a.code != http.StatusNoContent {
		t.Fatalf("delete: %s", a)
	}
	problemSays(t, send(t, "DELETE", e.url("/subscriptions/"+s.ID), nil, ""), 404, "does not exist")
	problemSays(t, send(t, "GET", e.url("/subscriptions/"+s.ID), nil, ""), 404, "does not exist")
	e.postEvent(tutorial("after delete"))
	// Proof that nothing more is coming: a second subscriber created after
	// the event gets it (from=start), while the deleted one never does.
	other := newSubscriber(t, nil)
	e.subscribe(map[string]any{"url": other.url(), "from": "start"})
	other.waitOK(3)
	if n := len(sub.all()); n != 1 {
		t.Errorf("the deleted subscription received %d requests, want 1", n)
	}
	e.consumerGone("blog-push-" + s.ID)
}

// TestFromStartReplaysTheWholeHistory checks that "from": "start" delivers
// the events posted before the subscription, then the new ones.
func TestFromStartReplaysTheWholeHistory(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.postEvent(tutorial(fmt.Sprint(i)))
	}
	sub := newSubscriber(t, nil)
	if s := e.subscribe(map[string]any{"url": sub.url(), "from": "start", "format": "cloudevents"}); s.StartSeq != 1 {
		t.Fatalf("startSeq %d", s.StartSeq)
	}
	e.postEvent(tutorial("3"))
	for i, d := range sub.waitOK(4) {
		env, err := event.Parse(d.body)
		if err != nil || !strings.Contains(string(env.Data), fmt.Sprintf(`"id":"%d"`, i)) {
			t.Fatalf("delivery %d: %s", i, d.body)
		}
	}
}

// TestBadSubscriptionsAreRefused checks the create errors.
func TestBadSubscriptionsAreRefused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ body, says string }{
		{`{}`, "url"},
		{`{"url":"ftp://127.0.0.1/x"}`, "http:// or https://"},
		{`{"url":"/relative"}`, "http:// or https://"},
		{`{"url":"http://127.0.0.1/x","format":"xml"}`, "format"},
		{`{"url":"http://127.0.0.1/x","from":"yesterday"}`, "from"},
		{`{"url":"http://127.0.0.1/x","types":["a b"]}`, "body.types[0]"},
		{`{"url":"http://127.0.0.1/x","secret":"not base64!"}`, "whsec_"},
		{`{"url":"http://127.0.0.1/x","secret":"whsec_c2hvcnQ="}`, "24 to 64 random bytes"},
		{`{"url":"http://127.0.0.1/x","extra":1}`, "extra"},
	} {
		problemSays(t, send(t, "POST", e.url("/subscriptions"), jsonCT("application/json"), tc.body), 422, tc.says)
	}
	if a := send(t, "GET", e.url("/subscriptions"), nil, ""); !strings.Contains(string(a.body), `"subscriptions":[]`) {
		t.Errorf("list after refusals: %s", a)
	}
}

// TestFlagSubscriptionsFollowTheFlag checks a --push subscription is created
// on start, cannot be deleted through the API, keeps its place across a
// restart, and is deleted once --push no longer lists it.
func TestFlagSubscriptionsFollowTheFlag(t *testing.T) {
	sub := newSubscriber(t, nil)
	e := newEnv(t, func(c *gateway.Config) { c.Push = []string{sub.url(), sub.url()} })
	var list struct {
		Subscriptions []gateway.SubscriptionView `json:"subscriptions"`
	}
	json.Unmarshal(send(t, "GET", e.url("/subscriptions"), nil, "").body, &list)
	if len(list.Subscriptions) != 1 {
		t.Fatalf("subscriptions %+v", list.Subscriptions)
	}
	s := list.Subscriptions[0]
	if !strings.HasPrefix(s.ID, "flag-") || len(s.ID) != 17 || s.ConfiguredBy != "flag" || s.Signed {
		t.Fatalf("flag subscription %+v", s)
	}
	problemSays(t, send(t, "DELETE", e.url("/subscriptions/"+s.ID), nil, ""), 409, "remove the URL from --push")

	e.postEvent(tutorial("0"))
	sub.waitOK(1)
	e.restart()
	e.postEvent(tutorial("1"))
	if got := sub.waitOK(2); len(got) != 2 || postID(t, got[1].body) != "1" {
		t.Fatalf("after restart: %d deliveries", len(got))
	}

	e.cfg.Push = nil
	e.restart()
	if a := send(t, "GET", e.url("/subscriptions"), nil, ""); !strings.Contains(string(a.body), `"subscriptions":[]`) {
		t.Fatalf("after dropping the flag: %s", a)
	}
	e.consumerGone("blog-push-" + s.ID)
	e.postEvent(tutorial("2"))
	other := newSubscriber(t, nil)
	e.subscribe(map[string]any{"url": other.url(), "from": "start"})
	other.waitOK(3)
	if n := len(sub.all()); n != 2 {
		t.Errorf("the removed flag subscription received %d requests, want 2", n)
	}
}
