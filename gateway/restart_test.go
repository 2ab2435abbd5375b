package gateway_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/heraldev/herald/gateway"
)

// TestRestartKeepsHistoryAndDeliversWhatWasMissed posts events while a
// subscriber is down, restarts the gateway and the NATS server on the same
// storage, and checks that GET /events still returns the whole history in
// order and that the subscriber, back up, receives every event it missed,
// in order, once.
func TestRestartKeepsHistoryAndDeliversWhatWasMissed(t *testing.T) {
	sub := newSubscriber(t, nil)
	e := newEnv(t, func(c *gateway.Config) { c.Push = []string{sub.url()} })
	api := newSubscriber(t, nil)
	e.subscribe(map[string]any{"url": api.url(), "format": "cloudevents"})
	e.postEvent(tutorial("0"))
	sub.waitOK(1)
	api.waitOK(1)
	sub.close()
	api.close()
	for i := 1; i <= 5; i++ {
		e.postEvent(tutorial(fmt.Sprint(i)))
	}
	e.restart()
	_, items := e.history("")
	if len(items) != 6 {
		t.Fatalf("%d events after restart", len(items))
	}
	for i, it := range items {
		if id := postID(t, it); id != fmt.Sprint(i) {
			t.Fatalf("event %d is %s", i, id)
		}
	}
	sub.reopen()
	api.reopen()
	for _, s := range []*subscriber{sub, api} {
		got := s.waitOK(6)
		seen := map[string]bool{}
		for i, d := range got {
			if seen[d.id] {
				t.Fatalf("webhook-id %s acknowledged twice", d.id)
			}
			seen[d.id] = true
			if i < len(items) && !containsID(d.body, fmt.Sprint(i)) {
				t.Fatalf("delivery %d: %s", i, d.body)
			}
		}
	}
	e.postEvent(tutorial("6"))
	sub.waitOK(7)
}

// containsID reports whether a delivery (in either format) carries data.id id.
func containsID(body []byte, id string) bool { return strings.Contains(string(body), `"id":"`+id+`"`) }
