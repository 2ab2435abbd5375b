//go:build faults

package faults

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
)

// TestQueryDownForAMinuteLosesNothing stops the query service for 60s under
// load. The stream keeps every event meanwhile (it has no age or size limit:
// its first sequence is still 1 and it holds every event ever committed),
// and the restarted service catches up completely.
func TestQueryDownForAMinuteLosesNothing(t *testing.T) {
	c := startCluster(t, "query-down-60s", nil, nil)
	l := startLoad(t, c)
	time.Sleep(5 * time.Second)
	c.stopClean("query")
	time.Sleep(60 * time.Second) // the load goes on while query is down
	l.stop()
	backlog := c.queryLag(t)
	c.restart("query", svcOpts{})
	c.finish(l, time.Now(), expectations{}, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.streamState(ctx, event.ShopStream)
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstSeq != 1 || st.Msgs != st.LastSeq {
		t.Errorf("stream SHOP holds sequences %d..%d (%d messages): events were discarded", st.FirstSeq, st.LastSeq, st.Msgs)
	}
	if backlog < 100 {
		t.Errorf("the query consumer was only %d events behind after a minute down; the test did not build a backlog", backlog)
	}
	t.Logf("caught up with a backlog of %d events", backlog)
}

// queryLag is the query consumer's lag as the bus sees it.
func (c *cluster) queryLag(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lag, err := c.consumerLag(ctx, "shop-query")
	if err != nil {
		t.Fatal(err)
	}
	return lag
}

// TestFullStreamRefusesWritesUntilTheLimitIsRaised starts the services with
// a 64 KiB stream limit. Once the stream is full, writes answer 503 with a
// problem detail that names the full bus and the limit, and never 2xx for a
// write whose event cannot be stored: after an operator raises the limit
// (one service restarted with --max-stream-bytes 0), every 2xx write's event
// is in the stream, the outboxes drain and the view converges.
func TestFullStreamRefusesWritesUntilTheLimitIsRaised(t *testing.T) {
	c := startCluster(t, "stream-full", map[string]string{"--max-stream-bytes": "65536"}, nil)
	l := startLoad(t, c)
	err := waitFor(90*time.Second, 200*time.Millisecond, func() error {
		if len(l.refused(http.StatusServiceUnavailable)) == 0 {
			return errNotYet
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no write answered 503 although the stream is limited to 64 KiB: %v", err)
	}
	time.Sleep(3 * time.Second) // hold the stream full under load
	c.stopClean("users")
	c.restart("users", svcOpts{Flags: map[string]string{"--max-stream-bytes": "0"}})
	raised := time.Now()
	time.Sleep(10 * time.Second) // relays retry at most every 5s
	l.stop()
	c.finish(l, time.Now(), expectations{}, 0)

	refused := l.refused(http.StatusServiceUnavailable)
	for _, w := range refused {
		if !strings.Contains(w.Detail, "full") || !strings.Contains(w.Detail, "limit") {
			t.Errorf("a %s write answered 503 with detail %q; want it to say the stream is full and name the limit", w.Kind, w.Detail)
			break
		}
	}
	for _, w := range l.all() {
		if w.Status >= 500 && w.Status != http.StatusServiceUnavailable {
			t.Errorf("a %s write answered %d: %s", w.Kind, w.Status, w.Detail)
		}
	}
	if n := l.okBetween(raised.Add(6*time.Second), time.Now()); n == 0 {
		t.Errorf("no write succeeded 6s after the limit was raised")
	}
	t.Logf("%d writes refused with 503 while the stream was full, e.g. %q", len(refused), refused[0].Detail)
	if late := c.storedAfter(t, l, raised); len(late) > 0 {
		t.Logf("%d writes were answered 2xx before the limit was raised, but their events were stored only after it "+
			"(the service had not yet seen its relay refused); e.g. %s %d answered %d at %s, stored at %s",
			len(late), late[0].Kind, late[0].ID, late[0].Status, late[0].End.Format(time.StampMilli), late[0].stored.Format(time.StampMilli))
	}
}

// lateWrite is a 2xx write whose event reached the stream only later.
type lateWrite struct {
	write
	stored time.Time
}

// storedAfter returns the 2xx writes answered before t0 whose events the
// stream stored after t0.
func (c *cluster) storedAfter(t *testing.T, l *load, t0 time.Time) []lateWrite {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := c.bus.Read(ctx, event.ShopStream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	storedAt := map[string]time.Time{}
	for _, m := range msgs {
		if e, err := event.Parse(m.Data); err == nil {
			storedAt[eventKey(e.Type, e.Subject, e.EntityVersion)] = m.Time
		}
	}
	var late []lateWrite
	for _, w := range l.all() {
		if at := storedAt[okEventKey(w)]; w.Outcome == ok && w.End.Before(t0) && at.After(t0) {
			late = append(late, lateWrite{w, at})
		}
	}
	return late
}

// refused returns the writes answered with status.
func (l *load) refused(status int) []write {
	var out []write
	for _, w := range l.all() {
		if w.Status == status {
			out = append(out, w)
		}
	}
	return out
}
