package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
)

// testSecret is a Standard Webhooks secret: whsec_ and 32 random bytes.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="

// verify checks a delivery's signature the way the Standard Webhooks
// specification describes it, independently of the gateway's code.
func verify(t *testing.T, secret string, d delivery) {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := strconv.ParseInt(d.timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Fatalf("webhook-timestamp %q", d.timestamp)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.id + "." + d.timestamp + "." + string(d.body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for sig := range strings.SplitSeq(d.signature, " ") {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return
		}
	}
	t.Fatalf("webhook-signature %q, want %q", d.signature, want)
}

// TestPushDeliversEveryEventInOrderInBothFormats subscribes one tutorial and
// one CloudEvents subscriber (one signed by flag, one by its own secret) and
// one for a single type, and checks each receives what it asked for, in
// order, with Standard Webhooks headers and a valid signature.
func TestPushDeliversEveryEventInOrderInBothFormats(t *testing.T) {
	tut := newSubscriber(t, nil)
	e := newEnv(t, func(c *gateway.Config) { c.Push, c.Secret = []string{tut.url()}, testSecret })
	ces := newSubscriber(t, nil)
	comments := newSubscriber(t, nil)
	const ownSecret = "whsec_dGhpcnR5LXR3by1ieXRlcy1vZi1zZWNyZXQtdGVzdC1rZXk="
	e.subscribe(map[string]any{"url": ces.url(), "format": "cloudevents", "secret": ownSecret})
	e.subscribe(map[string]any{"url": comments.url(), "types": []string{"CommentCreated"}})

	var ids []string
	for i := range 10 {
		var a answer
		if i%3 == 2 {
			a = e.postEvent(fmt.Sprintf(`{"type":"CommentCreated","data":{"id":"c%d","postId":"p","content":"x","status":"pending"}}`, i))
		} else {
			a = e.postEvent(tutorial(fmt.Sprint(i)))
		}
		ids = append(ids, a.header.Get("Herald-Event-Id"))
	}
	got := tut.waitOK(10)
	for i, d := range got {
		if d.id != ids[i] || d.contentType != "application/json" {
			t.Fatalf("tutorial delivery %d: id %s (want %s), %s", i, d.id, ids[i], d.contentType)
		}
		decodeTutorial(t, d.body)
		verify(t, testSecret, d)
	}
	for i, d := range ces.waitOK(10) {
		env, err := event.Parse(d.body)
		if err != nil || env.ID != ids[i] || d.id != ids[i] || d.contentType != "application/cloudevents+json" {
			t.Fatalf("cloudevents delivery %d: %v %s %s", i, err, d.id, d.body)
		}
		verify(t, ownSecret, d)
	}
	cs := comments.waitOK(3)
	for i, d := range cs {
		if d.id != ids[3*i+2] || d.signature == "" {
			t.Fatalf("comment delivery %d: %s (want %s), signature %q", i, d.id, ids[3*i+2], d.signature)
		}
		verify(t, testSecret, d) // an API subscription without a secret takes --push-secret
	}
	testenv.Eventually(t, 5*time.Second, func() error { // nothing more arrives for the filtered one
		if n := len(comments.all()); n != 3 {
			return fmt.Errorf("%d deliveries", n)
		}
		return nil
	})
}

// TestFailingEventHoldsBackTheOnesBehindIt makes the subscriber answer 500
// three times to the first event, and checks it then gets every event in
// order, none of the later ones before the first succeeded.
func TestFailingEventHoldsBackTheOnesBehindIt(t *testing.T) {
	sub := newSubscriber(t, func(d delivery, before int) int {
		if strings.Contains(string(d.body), `"id":"0"`) && before < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	e := newEnv(t, func(c *gateway.Config) { c.Push = []string{sub.url()} })
	for i := range 5 {
		e.postEvent(tutorial(fmt.Sprint(i)))
	}
	got := sub.waitOK(5)
	for i, d := range got {
		if id := postID(t, d.body); id != fmt.Sprint(i) {
			t.Fatalf("delivery %d is event %s", i, id)
		}
	}
	all := sub.all()
	if len(all) != 8 {
		t.Fatalf("%d requests, want 3 failures and 5 successes", len(all))
	}
	for i := range 3 {
		if all[i].status != 500 || all[i].id != got[0].id {
			t.Fatalf("request %d: %d for %s: a later event overtook the failing one", i, all[i].status, all[i].id)
		}
	}
}

// TestSubscriberDownThenBackGetsEveryMissedEventOnce closes the subscriber's
// port while events are posted, reopens it, and checks it receives every
// missed event, in order, each webhook-id acknowledged once.
func TestSubscriberDownThenBackGetsEveryMissedEventOnce(t *testing.T) {
	sub := newSubscriber(t, nil)
	e := newEnv(t, func(c *gateway.Config) { c.Push = []string{sub.url()} })
	e.postEvent(tutorial("0"))
	sub.waitOK(1)
	sub.close()
	for i := 1; i <= 10; i++ {
		e.postEvent(tutorial(fmt.Sprint(i)))
	}
	sub.reopen()
	got := sub.waitOK(11)
	seen := map[string]bool{}
	for i, d := range got {
		if id := postID(t, d.body); id != fmt.Sprint(i) {
			t.Fatalf("delivery %d is event %s", i, id)
		}
		if seen[d.id] {
			t.Fatalf("webhook-id %s acknowledged twice", d.id)
		}
		seen[d.id] = true
	}
}

// TestAlwaysFailingEventIsDeadLetteredAndLaterEventsFlow checks that an
// event the subscriber always refuses is dead-lettered for its consumer
// after MaxDeliver attempts, and that the events behind it then arrive.
func TestAlwaysFailingEventIsDeadLetteredAndLaterEventsFlow(t *testing.T) {
	sub := newSubscriber(t, func(d delivery, _ int) int {
		if strings.Contains(string(d.body), "poison") {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	e := newEnv(t, func(c *gateway.Config) { c.MaxDeliver = 3 })
	s := e.subscribe(map[string]any{"url": sub.url()})
	e.postEvent(tutorial("0"))
	poison := e.postEvent(`{"type":"X","data":{"poison":true}}`)
	e.postEvent(tutorial("2"))
	got := sub.waitOK(2)
	if postID(t, got[0].body) != "0" || postID(t, got[1].body) != "2" {
		t.Fatalf("delivered %s then %s", got[0].body, got[1].body)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		letters, err := e.bus.DeadLetters(context.Background(), "blog-push-"+s.ID)
		if err != nil || len(letters) != 1 {
			return fmt.Errorf("dead letters %v, %v", letters, err)
		}
		dl := letters[0]
		if dl.ID != poison.header.Get("Herald-Event-Id") || strconv.FormatUint(dl.Sequence, 10) != poison.header.Get("Herald-Position") ||
			dl.Attempts != 3 || !strings.Contains(dl.Error, "500") || !strings.Contains(dl.Error, "not now") {
			return fmt.Errorf("dead letter %+v", dl)
		}
		return nil
	})
	if n := len(sub.all()); n != 5 {
		t.Errorf("%d requests, want 3 attempts at the poison and 2 deliveries", n)
	}
	testenv.Eventually(t, 5*time.Second, func() error { // counted once the answer is read, just after the subscriber saw it
		metrics := string(send(t, "GET", e.url("/metrics"), nil, "").body)
		for _, want := range []string{
			fmt.Sprintf(`herald_gateway_push_deliveries_total{result="ok",subscription=%q} 2`, s.ID),
			fmt.Sprintf(`herald_gateway_push_deliveries_total{result="error",subscription=%q} 3`, s.ID),
		} {
			if !strings.Contains(metrics, want) {
				return fmt.Errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}

// TestRedirectIsNotFollowed checks a 3xx is a failure: the redirect's target
// never hears of the event, and the error says why.
func TestRedirectIsNotFollowed(t *testing.T) {
	target := newSubscriber(t, nil)
	redirector := newSubscriber(t, func(delivery, int) int { return http.StatusTemporaryRedirect })
	redirector.mu.Lock()
	redirector.location = target.url()
	redirector.mu.Unlock()
	e := newEnv(t, func(c *gateway.Config) { c.MaxDeliver = 2 })
	s := e.subscribe(map[string]any{"url": redirector.url()})
	e.postEvent(tutorial("0"))
	testenv.Eventually(t, 10*time.Second, func() error {
		letters, err := e.bus.DeadLetters(context.Background(), "blog-push-"+s.ID)
		if err != nil || len(letters) != 1 || !strings.Contains(letters[0].Error, "307") || !strings.Contains(letters[0].Error, "not followed") {
			return fmt.Errorf("dead letters %+v, %v", letters, err)
		}
		return nil
	})
	if n := len(redirector.all()); n != 2 {
		t.Errorf("redirector saw %d requests, want 2", n)
	}
	if n := len(target.all()); n != 0 {
		t.Errorf("the redirect was followed: target saw %d requests", n)
	}
}
