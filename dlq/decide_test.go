package dlq

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/service"
)

// TestDecideFollowsWhatTheServiceSays: each answer of the consumer's
// service (applied, not applied, no record kept, another replica, no
// answer) gives its decision, and a service that does not answer is asked
// once, not once per dead letter.
func TestDecideFollowsWhatTheServiceSays(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	answers := map[string]func(*service.Journey) error{
		"applied": func(j *service.Journey) error {
			j.Consumers, j.Records, j.Applied = []string{"c"}, true, &at
			return nil
		},
		"not-yet":  func(j *service.Journey) error { j.Consumers, j.Records = []string{"c"}, true; return nil },
		"push":     func(j *service.Journey) error { j.Consumers = []string{"c"}; return nil },
		"replica":  func(j *service.Journey) error { j.Consumers, j.Records = []string{"c-b"}, true; return nil },
		"refused":  func(*service.Journey) error { return &net.OpError{Op: "dial", Err: errors.New("connection refused")} },
		"bad-item": func(*service.Journey) error { return errors.New("400 Bad Request") },
	}
	asked := map[string]int{}
	r := Redriver{Ask: func(_ context.Context, svc, path string, v any) error {
		asked[svc]++
		if !strings.HasPrefix(path, "/journey?event=ev-") {
			t.Errorf("asked %s for %s", svc, path)
		}
		return answers[svc](v.(*service.Journey))
	}}
	for _, c := range []struct {
		service, action, reason string
		unchecked               bool
	}{
		{"applied", Applied, "already applied by applied at 2025-06-01T12:00:00Z: skipped; discard it with herald dlq discard 7", false},
		{"not-yet", Redrive, "not-yet has not applied it", false},
		{"push", Redrive, "push does not record the events it handles", true},
		{"replica", Redrive, "runs [c-b], not c (another replica?)", true},
		{"refused", Redrive, "could not ask refused whether it applied the event", true},
		{"bad-item", Redrive, "could not ask bad-item", true},
		{"", Redrive, "no service in the catalogue runs consumer c", true},
	} {
		down := map[string]error{}
		for range 2 {
			dec := Decision{Seq: 7, Consumer: "c", Service: c.service, EventID: "ev-1"}
			r.decide(context.Background(), &dec, down)
			if dec.Action != c.action || !strings.Contains(dec.Reason, c.reason) || dec.Unchecked != c.unchecked {
				t.Errorf("%s answers: %+v, want %s saying %q (unchecked %v)", c.service, dec, c.action, c.reason, c.unchecked)
			}
			if c.unchecked && !strings.Contains(dec.Reason, "redriving anyway: a consumer that records the events it applies") {
				t.Errorf("%s: the reason does not say why redriving anyway is safe: %s", c.service, dec.Reason)
			}
		}
	}
	if asked["refused"] != 1 || asked["bad-item"] != 2 || asked["applied"] != 2 {
		t.Errorf("asked %v: a service that does not answer is asked once; one that answers, each time", asked)
	}
}
