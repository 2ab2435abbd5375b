package bustest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

// consumer returns a consumer of f's stream named after suffix and the stream,
// so names are unique across subtests even on a shared server.
func consumer(f Fixture, suffix string) bus.Consumer {
	return bus.Consumer{Name: f.Stream + "_" + suffix, Stream: f.Stream}
}

func payload(id string) []byte { return []byte(`{"id":"` + id + `"}`) }

func publish(t *testing.T, f Fixture, subject, id string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := f.Bus.Publish(ctx, subject, id, data); err != nil {
		t.Fatalf("publish %s to %s: %v", id, subject, err)
	}
}

// publishRetrying publishes until the bus acknowledges, as a relay does while
// the bus recovers; the id makes retries safe.
func publishRetrying(t *testing.T, f Fixture, subject, id string, data []byte) {
	t.Helper()
	var last error
	eventually(t, wait, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last = f.Bus.Publish(ctx, subject, id, data)
		return last == nil
	}, func() string { return fmt.Sprintf("publish %s to %s: %v", id, subject, last) })
}

// flush publishes a marker on subject and waits until rec received it. A
// consumer delivers first deliveries in stream order, so everything
// published before the marker that this consumer would ever get first-hand
// has been delivered by then.
func flush(t *testing.T, f Fixture, rec *recorder, subject string) {
	t.Helper()
	rec.mu.Lock()
	rec.flushes++
	id := fmt.Sprintf("flush-%d", rec.flushes)
	rec.mu.Unlock()
	publish(t, f, subject, id, payload(id))
	rec.waitForAll(t, id)
}

func deadLetters(t *testing.T, f Fixture, consumer string) []bus.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	dl, err := f.Bus.DeadLetters(ctx, consumer)
	if err != nil {
		t.Fatalf("dead letters of %s: %v", consumer, err)
	}
	return dl
}

func waitDeadLetters(t *testing.T, f Fixture, consumer string, n int) []bus.DeadLetter {
	t.Helper()
	var dl []bus.DeadLetter
	eventually(t, wait, func() bool {
		dl = deadLetters(t, f, consumer)
		return len(dl) >= n
	}, func() string { return fmt.Sprintf("%s has %d dead letters, want %d", consumer, len(dl), n) })
	return dl
}

// subscription stops itself when the test ends, unless the test stopped it.
type subscription struct {
	bus.Subscription
	name    string
	stopped bool
}

func subscribe(t *testing.T, f Fixture, c bus.Consumer, h bus.Handler) *subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	s, err := f.Bus.Subscribe(ctx, c, h)
	if err != nil {
		t.Fatalf("subscribe %s: %v", c.Name, err)
	}
	sub := &subscription{Subscription: s, name: c.Name}
	t.Cleanup(func() {
		if !sub.stopped {
			sub.stop(t)
		}
	})
	return sub
}

func (s *subscription) stop(t *testing.T) {
	t.Helper()
	s.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Errorf("stop %s: %v", s.name, err)
	}
}

// recorder keeps every delivery a handler saw, in order. It is safe for
// concurrent use.
type recorder struct {
	mu      sync.Mutex
	msgs    []bus.Message
	flushes int
}

func newRecorder() *recorder { return &recorder{} }

// handler records each delivery, then runs next (if not nil) and returns its
// verdict. Panics in next propagate, after the delivery is recorded.
func (r *recorder) handler(next bus.Handler) bus.Handler {
	return func(ctx context.Context, m bus.Message) error {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
		if next == nil {
			return nil
		}
		return next(ctx, m)
	}
}

func (r *recorder) all() []bus.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

func (r *recorder) byID(id string) []bus.Message {
	var out []bus.Message
	for _, m := range r.all() {
		if m.ID == id {
			out = append(out, m)
		}
	}
	return out
}

// ids returns the ids of the first deliveries, in delivery order.
func (r *recorder) ids() []string {
	var out []string
	for _, m := range r.all() {
		if m.Attempt == 1 {
			out = append(out, m.ID)
		}
	}
	return out
}

func (r *recorder) sequences(ids ...string) []uint64 {
	var out []uint64
	for _, m := range r.all() {
		if slices.Contains(ids, m.ID) {
			out = append(out, m.Sequence)
		}
	}
	return out
}

func (r *recorder) waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	eventually(t, wait, cond, func() string { return "condition not met; deliveries so far: " + r.String() })
}

// waitForAll waits until each of ids was delivered at least once.
func (r *recorder) waitForAll(t *testing.T, ids ...string) {
	t.Helper()
	var missing []string
	eventually(t, wait, func() bool {
		missing = missing[:0]
		for _, id := range ids {
			if len(r.byID(id)) == 0 {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	}, func() string { return fmt.Sprintf("never delivered: %v; deliveries so far: %v", missing, r) })
}

// never fails the test if cond becomes true within d. It is for checking
// that something does not happen, so it always takes d.
func (r *recorder) never(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			t.Fatalf("unexpected delivery; deliveries: %v", r)
		}
		if time.Now().After(deadline) {
			return
		}
		<-tick.C
	}
}

func (r *recorder) String() string {
	var b strings.Builder
	for i, m := range r.all() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s#%d", m.ID, m.Attempt)
	}
	return "[" + b.String() + "]"
}

func attempts(ms []bus.Message) []int {
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.Attempt
	}
	return out
}

// eventually polls cond until it returns true, and fails the test with
// describe's account of the last state if it has not within timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, describe())
		}
		<-tick.C
	}
}

func receive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		t.Fatalf("timed out after %v waiting for %s", wait, what)
	}
}
