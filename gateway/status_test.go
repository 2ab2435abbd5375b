package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
)

// status reads the gateway's GET /status.
func (e *env) status() service.Status {
	e.t.Helper()
	a := send(e.t, http.MethodGet, e.url("/status"), nil, "")
	if a.code != http.StatusOK {
		e.t.Fatalf("GET /status: %s", a)
	}
	var st service.Status
	if err := json.Unmarshal(a.body, &st); err != nil {
		e.t.Fatalf("GET /status: %v in %s", err, a.body)
	}
	return st
}

// consumer returns the consumer called name of st.
func consumer(st service.Status, name string) (service.ConsumerStatus, bool) {
	for _, c := range st.Consumers {
		if c.Name == name {
			return c, true
		}
	}
	return service.ConsumerStatus{}, false
}

// TestStatusShowsADownSubscriberRetryingUntilItIsBack: while a push
// subscriber is down, the gateway's GET /status lists its subscription's
// consumer as failing (attempt, error, since when, the event held back)
// instead of the log warning at every retry; once it is back and takes the
// event, the consumer is no longer failing.
func TestStatusShowsADownSubscriberRetryingUntilItIsBack(t *testing.T) {
	sub := newSubscriber(t, nil)
	e := newEnv(t, func(c *gateway.Config) { c.Push = []string{sub.url()} })
	e.postEvent(tutorial("0"))
	sub.waitOK(1)

	var name string
	for _, c := range e.status().Consumers {
		if strings.HasPrefix(c.Name, gateway.ConsumerPrefix) {
			name = c.Name
		}
	}
	if name == "" {
		t.Fatalf("GET /status lists no push subscription's consumer: %+v", e.status().Consumers)
	}
	if c, _ := consumer(e.status(), name); c.Failing != nil {
		t.Fatalf("failing before any failure: %+v", c.Failing)
	}

	sub.close()
	e.postEvent(tutorial("1"))
	held := e.lastSeq()
	var f service.Failing
	testenv.Eventually(t, 20*time.Second, func() error {
		c, ok := consumer(e.status(), name)
		switch {
		case !ok:
			return fmt.Errorf("%s not in GET /status", name)
		case c.Failing == nil:
			return fmt.Errorf("%s not failing yet", name)
		case c.Failing.Attempt < 3:
			return fmt.Errorf("%s at attempt %d", name, c.Failing.Attempt)
		}
		f = *c.Failing
		return nil
	})
	if f.Sequence != held || f.Event == "" || f.Subject == "" {
		t.Errorf("failing names the event at %d (%s, %s), want the held-back one at %d", f.Sequence, f.Event, f.Subject, held)
	}
	if !strings.Contains(f.Error, "refused") {
		t.Errorf("failing error %q does not say the connection was refused", f.Error)
	}
	if f.MaxDeliver != e.cfg.MaxDeliver || f.Failures < f.Attempt || f.At.Before(f.Since) || time.Since(f.Since) > time.Minute {
		t.Errorf("failing %+v: want attempts of %d, failures ≥ attempt, since ≤ at, since recent", f, e.cfg.MaxDeliver)
	}

	sub.reopen()
	sub.waitOK(2)
	testenv.Eventually(t, 20*time.Second, func() error {
		if c, _ := consumer(e.status(), name); c.Failing != nil {
			return fmt.Errorf("%s still failing: %+v", name, c.Failing)
		}
		return nil
	})
}
