package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

const (
	stream  = "TEST"
	timeout = 30 * time.Second
)

func TestRelayPublishesInCommitOrderAndDeletesOnlyAfterAck(t *testing.T) {
	e := newEnv(t)
	pub := &checkingPublisher{db: e.db, next: e.bus}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	relay.Batch = 4 // several batches
	e.run(t, relay)

	// Concurrent writers; transactions are serialized, so the order in which
	// they record their events while holding the write lock is commit order.
	var mu sync.Mutex
	var committed []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for tx := range 5 {
				n := 1 + (w+tx)%3
				err := inTx(e.db, func(sqltx *sql.Tx) error {
					var ids []string
					for i := range n {
						ev, err := event.New("test", "test.thing.happened.v1", fmt.Sprintf("w%d-tx%d-%d", w, tx, i), 1, nil)
						if err != nil {
							return err
						}
						if err := outbox.Add(context.Background(), sqltx, ev); err != nil {
							return err
						}
						ids = append(ids, ev.ID)
					}
					mu.Lock()
					committed = append(committed, ids...)
					mu.Unlock()
					return nil
				})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				relay.Notify()
			}
		})
	}
	// A rolled-back transaction's event never reaches the bus.
	rolledBack := newEvent(t, "rolled-back")
	err := inTx(e.db, func(tx *sql.Tx) error {
		if err := outbox.Add(context.Background(), tx, rolledBack); err != nil {
			return err
		}
		return errors.New("the entity change failed")
	})
	if err == nil {
		t.Fatal("inTx returned nil for a failing transaction")
	}
	wg.Wait()

	mu.Lock()
	want := slices.Clone(committed)
	mu.Unlock()
	e.waitPublished(t, relay, len(want))
	got := e.streamIDs(t)
	if !slices.Equal(got, want) {
		t.Errorf("stream holds\n%v\nwant commit order\n%v", got, want)
	}
	if slices.Contains(got, rolledBack.ID) {
		t.Error("a rolled-back event was published")
	}
	if v := pub.violations(); len(v) > 0 {
		t.Errorf("events deleted from the outbox before the bus acknowledged them: %v", v)
	}
}

func TestEventsLeftByACrashArePublishedByTheNextRelay(t *testing.T) {
	e := newEnv(t)
	// Commit events with no relay running: the process "crashed" between
	// commit and publish.
	var want []string
	for i := range 10 {
		ev := newEvent(t, fmt.Sprintf("e%d", i))
		if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, ev) }); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
	}
	if n := pending(t, e.db); n != 10 {
		t.Fatalf("outbox holds %d events, want 10", n)
	}
	if got := e.streamIDs(t); len(got) != 0 {
		t.Fatalf("stream holds %v before any relay ran, want nothing", got)
	}

	// The process restarts: reopen the database and start a relay, which
	// needs no Notify to find the leftovers.
	e.reopenDB(t)
	relay := outbox.NewRelay(newGroup(t, e.db), e.bus, discard)
	e.run(t, relay)
	e.waitPublished(t, relay, len(want))
	if got := e.streamIDs(t); !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v", got, want)
	}
}

func TestRelayKeepsEventsWhileTheBusFailsAndPublishesOnRecovery(t *testing.T) {
	e := newEnv(t)
	pub := &failingPublisher{next: e.bus, up: make(chan struct{})}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	relay.MaxBackoff = 100 * time.Millisecond
	e.run(t, relay)

	var want []string
	for i := range 5 {
		ev := newEvent(t, fmt.Sprintf("e%d", i))
		if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, ev) }); err != nil {
			t.Fatal(err) // writes succeed while the bus is down
		}
		want = append(want, ev.ID)
		relay.Notify()
	}
	eventually(t, func() bool { return pub.failures() >= 3 }, "the relay did not retry the failing bus")
	if n := pending(t, e.db); n != len(want) {
		t.Fatalf("outbox holds %d events while the bus fails, want %d", n, len(want))
	}
	if relay.Published() != 0 {
		t.Fatalf("Published() = %d while the bus fails, want 0", relay.Published())
	}

	close(pub.up)
	e.waitPublished(t, relay, len(want))
	if got := e.streamIDs(t); !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v", got, want)
	}
}

func TestRelayRidesOutABrokerRestart(t *testing.T) {
	e := newEnv(t)
	pub := &failingPublisher{next: e.bus, up: closed()}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	relay.MaxBackoff = 200 * time.Millisecond
	e.run(t, relay)

	first := newEvent(t, "before")
	if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, first) }); err != nil {
		t.Fatal(err)
	}
	relay.Notify()
	e.waitPublished(t, relay, 1)

	e.srv.Shutdown()
	var want = []string{first.ID}
	for i := range 5 {
		ev := newEvent(t, fmt.Sprintf("during-%d", i))
		if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, ev) }); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
		relay.Notify()
	}
	eventually(t, func() bool { return pub.failures() >= 1 }, "publishing to a stopped broker never failed")
	if n := pending(t, e.db); n == 0 {
		t.Fatal("outbox is empty while the broker is down")
	}
	e.restartServer(t)

	e.waitPublished(t, relay, len(want))
	// A publish that timed out may have reached the broker; its retry was
	// dropped by id, so each event is on the stream once.
	if got := e.streamIDs(t); !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v", got, want)
	}
}

func TestRelayFindsUnnotifiedEventsByPolling(t *testing.T) {
	e := newEnv(t)
	relay := outbox.NewRelay(newGroup(t, e.db), e.bus, discard)
	relay.Poll = 100 * time.Millisecond
	e.run(t, relay)
	// Once the relay has published a notified event, it is idle: only its
	// poll can find the next one.
	first := newEvent(t, "notified")
	if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, first) }); err != nil {
		t.Fatal(err)
	}
	relay.Notify()
	e.waitPublished(t, relay, 1)

	// Another process (or a caller that forgot Notify) commits an event.
	second := newEvent(t, "unnotified")
	if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, second) }); err != nil {
		t.Fatal(err)
	}
	e.waitPublished(t, relay, 2)
	if got, want := e.streamIDs(t), []string{first.ID, second.ID}; !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v", got, want)
	}
}

func TestFlushDeletesOnlyTheAcknowledgedPrefix(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 5 {
		ev := newEvent(t, fmt.Sprintf("e%d", i))
		if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(context.Background(), tx, ev) }); err != nil {
			t.Fatal(err)
		}
		want = append(want, ev.ID)
	}
	pub := &failingPublisher{next: e.bus, up: closed(), failCall: 3}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	ctx := context.Background()

	n, err := relay.Flush(ctx)
	if err == nil || n != 2 {
		t.Fatalf("Flush with the third publish failing = %d, %v; want 2 and an error", n, err)
	}
	if left := pending(t, e.db); left != 3 {
		t.Fatalf("outbox holds %d events after 2 of 5 were acknowledged, want 3", left)
	}
	if n, err := relay.Flush(ctx); err != nil || n != 3 {
		t.Fatalf("second Flush = %d, %v; want 3, nil", n, err)
	}
	if left := pending(t, e.db); left != 0 {
		t.Fatalf("outbox holds %d events, want 0", left)
	}
	if got := e.streamIDs(t); !slices.Equal(got, want) {
		t.Errorf("stream holds %v, want %v", got, want)
	}
	if relay.Published() != 5 {
		t.Errorf("Published() = %d, want 5", relay.Published())
	}
}

func TestRepublishedEventIsDroppedByTheBus(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ev := newEvent(t, "once")
	add := func() {
		t.Helper()
		if err := inTx(e.db, func(tx *sql.Tx) error { return outbox.Add(ctx, tx, ev) }); err != nil {
			t.Fatal(err)
		}
	}

	// The ack is lost after the bus stored the event: the row stays and the
	// next flush publishes it again.
	pub := &lostAckPublisher{next: e.bus, lose: 1}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	add()
	if _, err := relay.Flush(ctx); err == nil {
		t.Fatal("Flush with a lost ack succeeded, want an error")
	}
	if n := pending(t, e.db); n != 1 {
		t.Fatalf("outbox holds %d events after a lost ack, want 1", n)
	}
	if n, err := relay.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush after a lost ack = %d, %v; want 1, nil", n, err)
	}

	// The row is published and deleted, then the same event turns up again
	// (say, a crash between publish and delete).
	add()
	if n, err := relay.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush of the same event again = %d, %v; want 1, nil", n, err)
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("outbox holds %d events, want 0", n)
	}

	if got := e.streamIDs(t); !slices.Equal(got, []string{ev.ID}) {
		t.Errorf("stream holds %v after publishing one event three times, want it once", got)
	}
}

func TestRunReturnsWhenCancelled(t *testing.T) {
	e := newEnv(t)
	relay := outbox.NewRelay(newGroup(t, e.db), e.bus, discard)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(timeout):
		t.Fatal("Run did not return after its context was cancelled")
	}
}

var discard = slog.New(slog.DiscardHandler)

// env is a service database with an outbox and an embedded JetStream with
// the stream "TEST" over "test.>".
type env struct {
	dir  string
	db   *sql.DB
	srv  *jetstream.Server
	addr string
	bus  *jetstream.Bus
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.openDB(t)
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(e.dir, "nats"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { e.srv.Shutdown() })
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	e.addr = u.Host
	b, nc, err := jetstream.Dial(srv.ClientURL(), t.Name(), jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e.bus = b
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := b.EnsureStream(ctx, stream, "test.>"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) openDB(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := store.OpenSQLite(ctx, filepath.Join(e.dir, "service.db"), []store.Migration{outbox.Schema})
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	t.Cleanup(func() { db.Close() })
}

func (e *env) reopenDB(t *testing.T) {
	t.Helper()
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e.openDB(t)
}

// restartServer starts the broker again on the same address and storage;
// the connection reconnects by itself.
func (e *env) restartServer(t *testing.T) {
	t.Helper()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(e.dir, "nats"), Listen: e.addr})
	if err != nil {
		t.Fatalf("restart broker on %s: %v", e.addr, err)
	}
	e.srv = srv
}

// run runs relay until the test ends.
func (e *env) run(t *testing.T, relay *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(timeout):
			t.Error("relay did not stop")
		}
	})
}

// waitPublished waits until the outbox is empty and relay has had n events
// acknowledged.
func (e *env) waitPublished(t *testing.T, relay *outbox.Relay, n int) {
	t.Helper()
	eventually(t, func() bool {
		return relay.Published() >= int64(n) && pending(t, e.db) == 0
	}, fmt.Sprintf("want %d events published and none pending", n))
	if got := relay.Published(); got != int64(n) {
		t.Errorf("Published() = %d, want %d", got, n)
	}
}

// streamIDs returns the ids of the events on the stream, in stream order,
// checking each message against the event it carries.
func (e *env) streamIDs(t *testing.T) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	msgs, err := e.bus.Read(ctx, stream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatalf("stream seq %d: %v", m.Sequence, err)
		}
		if msgID := m.Header["Nats-Msg-Id"]; len(msgID) != 1 || msgID[0] != ev.ID {
			t.Errorf("stream seq %d: Nats-Msg-Id %v, want the event id %s", m.Sequence, msgID, ev.ID)
		}
		if want := event.Subject(ev.Type); m.Subject != want {
			t.Errorf("stream seq %d: subject %s, want %s", m.Sequence, m.Subject, want)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func newEvent(t *testing.T, subject string) event.Envelope {
	t.Helper()
	ev, err := event.New("test", "test.thing.happened.v1", subject, 1, map[string]string{"name": subject})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func inTx(db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func pending(t testing.TB, db *sql.DB) int {
	t.Helper()
	n, err := outbox.Pending(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		<-tick.C
	}
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// checkingPublisher checks that the event it publishes is still in the
// outbox both before and after the bus acknowledges it.
type checkingPublisher struct {
	db   *sql.DB
	next outbox.Publisher

	mu  sync.Mutex
	bad []string
}

func (p *checkingPublisher) Publish(ctx context.Context, subject, id string, payload []byte) error {
	p.check(ctx, id, "before publish")
	if err := p.next.Publish(ctx, subject, id, payload); err != nil {
		return err
	}
	p.check(ctx, id, "after the ack")
	return nil
}

func (p *checkingPublisher) check(ctx context.Context, id, when string) {
	var n int
	err := p.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE event_id = ?`, id).Scan(&n)
	if err == nil && n == 1 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bad) < 5 {
		p.bad = append(p.bad, fmt.Sprintf("%s %s: %d rows, err %v", id, when, n, err))
	}
}

func (p *checkingPublisher) violations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bad)
}

// failingPublisher fails while up is open, and then, if failCall is set,
// fails that one call (counting from 1) once.
type failingPublisher struct {
	next     outbox.Publisher
	up       chan struct{}
	failCall int

	mu    sync.Mutex
	calls int
	fails int
}

var errBusDown = errors.New("bus unavailable")

func (p *failingPublisher) Publish(ctx context.Context, subject, id string, payload []byte) error {
	p.mu.Lock()
	p.calls++
	fail := p.calls == p.failCall
	select {
	case <-p.up:
	default:
		fail = true
	}
	p.mu.Unlock()
	err := errBusDown
	if !fail {
		err = p.next.Publish(ctx, subject, id, payload)
	}
	if err != nil {
		p.mu.Lock()
		p.fails++
		p.mu.Unlock()
	}
	return err
}

func (p *failingPublisher) failures() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fails
}

// lostAckPublisher publishes, then reports failure for its first lose calls,
// as if the ack was lost on the way back.
type lostAckPublisher struct {
	next outbox.Publisher
	lose int
}

func (p *lostAckPublisher) Publish(ctx context.Context, subject, id string, payload []byte) error {
	if err := p.next.Publish(ctx, subject, id, payload); err != nil {
		return err
	}
	if p.lose > 0 {
		p.lose--
		return errors.New("ack lost")
	}
	return nil
}

// flakyBatchPublisher is a BatchPublisher on the real bus that fails the
// first attempt at each message whose id is in fail, and records every
// batch it is given.
type flakyBatchPublisher struct {
	*jetstream.Bus
	mu      sync.Mutex
	fail    map[string]bool
	batches [][]string
}

func (p *flakyBatchPublisher) PublishAll(ctx context.Context, ms []bus.Outgoing) []error {
	p.mu.Lock()
	var ids []string
	var send []bus.Outgoing
	var at []int
	errs := make([]error, len(ms))
	for i, m := range ms {
		ids = append(ids, m.ID)
		if p.fail[m.ID] {
			delete(p.fail, m.ID)
			errs[i] = errors.New("injected failure")
			continue
		}
		send = append(send, m)
		at = append(at, i)
	}
	p.batches = append(p.batches, ids)
	p.mu.Unlock()
	for j, err := range p.Bus.PublishAll(ctx, send) {
		errs[at[j]] = err
	}
	return errs
}

// TestPipelinedRelayKeepsEachEntitysEventsInOrder: the relay sends many
// events at once, but never two of one entity; an event that fails is sent
// again before its entity's next one, so each entity's events reach the
// stream in commit order, and every event reaches it once.
func TestPipelinedRelayKeepsEachEntitysEventsInOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var all []event.Envelope
	for v := int64(1); v <= 4; v++ {
		for entity := range 10 {
			all = append(all, thing(t, fmt.Sprintf("thing-%d", entity), v))
		}
	}
	addAll(t, e.db, all)
	fail := map[string]bool{}
	for i, ev := range all {
		if i%7 == 3 {
			fail[ev.ID] = true
		}
	}
	pub := &flakyBatchPublisher{Bus: e.bus, fail: fail}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	for range 100 {
		if pending(t, e.db) == 0 {
			break
		}
		relay.Flush(ctx) // failures are injected; they are retried by the next flush
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("%d events still in the outbox", n)
	}
	for _, b := range pub.batches {
		seen := map[string]bool{}
		for _, id := range b {
			subject := ""
			for _, ev := range all {
				if ev.ID == id {
					subject = ev.Subject
				}
			}
			if seen[subject] {
				t.Errorf("one batch held two events of %s: %v", subject, b)
			}
			seen[subject] = true
		}
	}
	if !slices.ContainsFunc(pub.batches, func(b []string) bool { return len(b) > 1 }) {
		t.Errorf("batches %v: the relay never had more than one event in flight", pub.batches)
	}
	ids := e.streamIDs(t)
	if len(ids) != len(all) {
		t.Fatalf("stream holds %d events, want %d", len(ids), len(all))
	}
	last := map[string]int64{}
	byID := map[string]event.Envelope{}
	for _, ev := range all {
		byID[ev.ID] = ev
	}
	for _, id := range ids {
		ev := byID[id]
		if ev.EntityVersion != last[ev.Subject]+1 {
			t.Errorf("%s: version %d after %d in the stream", ev.Subject, ev.EntityVersion, last[ev.Subject])
		}
		last[ev.Subject] = ev.EntityVersion
	}
}

// countingBatchPublisher counts how often each event is published.
type countingBatchPublisher struct {
	*jetstream.Bus
	mu    sync.Mutex
	count map[string]int
}

func (p *countingBatchPublisher) PublishAll(ctx context.Context, ms []bus.Outgoing) []error {
	p.mu.Lock()
	for _, m := range ms {
		p.count[m.ID]++
	}
	p.mu.Unlock()
	return p.Bus.PublishAll(ctx, ms)
}

func (p *countingBatchPublisher) PublishAsync(m bus.Outgoing) func(context.Context) error {
	p.mu.Lock()
	p.count[m.ID]++
	p.mu.Unlock()
	return p.Bus.PublishAsync(m)
}

func (p *countingBatchPublisher) PublishGroup(ms []bus.Outgoing) func(context.Context) error {
	p.mu.Lock()
	for _, m := range ms {
		p.count[m.ID]++
	}
	p.mu.Unlock()
	return p.Bus.PublishGroup(ms)
}

// TestRunningRelayDeletesInTheBackgroundAndPublishesEachEventOnce: while
// writers keep committing, a running relay publishes each event exactly
// once, even though it deletes published events in the background while it
// reads the next batch, and empties the outbox.
func TestRunningRelayDeletesInTheBackgroundAndPublishesEachEventOnce(t *testing.T) {
	e := newEnv(t)
	pub := &countingBatchPublisher{Bus: e.bus, count: map[string]int{}}
	g := newGroup(t, e.db)
	relay := outbox.NewRelay(g, pub, discard)
	relay.Batch = 8
	e.run(t, relay)
	var ids []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				ev := newEvent(t, fmt.Sprintf("w%d-%d", w, i))
				if err := g.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return outbox.Add(ctx, tx, ev) }); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, ev.ID)
				mu.Unlock()
				relay.Notify()
			}
		})
	}
	wg.Wait()
	e.waitPublished(t, relay, len(ids))
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, id := range ids {
		if n := pub.count[id]; n != 1 {
			t.Errorf("event %s published %d times, want once", id, n)
		}
	}
}

// flakyAsyncPublisher is a GroupPublisher on the real bus that fails some
// events: an id in refuse fails its first send (and its group's) without
// publishing it, an id in loseAck is published but its first
// acknowledgement (and its group's) reported lost. It records the most
// events it had in flight at once, any entity that had two in flight, and
// how many groups it sent.
type flakyAsyncPublisher struct {
	*jetstream.Bus
	entityOf func(id string) string

	mu       sync.Mutex
	refuse   map[string]bool
	loseAck  map[string]bool
	flying   map[string]bool // entities in flight
	inFlight int
	most     int
	doubled  []string
	groups   int
}

func (p *flakyAsyncPublisher) PublishAsync(m bus.Outgoing) func(context.Context) error {
	return p.publish([]bus.Outgoing{m}, func() func(context.Context) error { return p.Bus.PublishAsync(m) })
}

func (p *flakyAsyncPublisher) PublishGroup(ms []bus.Outgoing) func(context.Context) error {
	p.mu.Lock()
	p.groups++
	p.mu.Unlock()
	return p.publish(ms, func() func(context.Context) error { return p.Bus.PublishGroup(ms) })
}

// publish records ms in flight and sends them with send, unless one is to
// be refused.
func (p *flakyAsyncPublisher) publish(ms []bus.Outgoing, send func() func(context.Context) error) func(context.Context) error {
	// entityOf takes the test's own lock, which its writers hold while they
	// take p.mu: look the entities up before taking p.mu, never under it.
	entities := make([]string, len(ms))
	for i, m := range ms {
		entities[i] = p.entityOf(m.ID)
	}
	p.mu.Lock()
	refuse, lose := false, false
	for i, m := range ms {
		if p.flying[entities[i]] {
			p.doubled = append(p.doubled, entities[i])
		}
		p.flying[entities[i]] = true
		p.inFlight++
		refuse, lose = refuse || p.refuse[m.ID], lose || p.loseAck[m.ID]
		delete(p.refuse, m.ID)
		delete(p.loseAck, m.ID)
	}
	p.most = max(p.most, p.inFlight)
	p.mu.Unlock()
	var wait func(context.Context) error
	if refuse {
		wait = func(context.Context) error { return errBusDown }
	} else {
		wait = send()
	}
	return func(ctx context.Context) error {
		err := wait(ctx)
		if err == nil && lose {
			err = errors.New("ack lost")
		}
		p.mu.Lock()
		for _, e := range entities {
			delete(p.flying, e)
		}
		p.inFlight -= len(ms)
		p.mu.Unlock()
		return err
	}
}

// TestStreamingRelayKeepsEachEntitysOrderThroughFailures: a running relay
// on SQLite keeps many events in flight while writers commit, never two of
// one entity; events it could not publish, or whose acknowledgement was
// lost, are sent again before their entity's next event, so each entity's
// events reach the stream in commit order, each once (the bus drops the
// copy of a lost acknowledgement's event), and the outbox empties.
func TestStreamingRelayKeepsEachEntitysOrderThroughFailures(t *testing.T) {
	e := newEnv(t)
	g := newGroup(t, e.db)
	const entities, versions = 20, 10
	var mu sync.Mutex
	byID := map[string]event.Envelope{}
	pub := &flakyAsyncPublisher{
		Bus:     e.bus,
		refuse:  map[string]bool{},
		loseAck: map[string]bool{},
		flying:  map[string]bool{},
		entityOf: func(id string) string {
			mu.Lock()
			defer mu.Unlock()
			return byID[id].Subject
		},
	}
	relay := outbox.NewRelay(g, pub, discard)
	relay.MaxBackoff = 100 * time.Millisecond
	e.run(t, relay)

	var wg sync.WaitGroup
	n := 0
	for entity := range entities {
		wg.Go(func() {
			for v := int64(1); v <= versions; v++ {
				ev, err := event.New("test", "test.thing.changed.v1", fmt.Sprintf("thing-%d", entity), v, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				byID[ev.ID] = ev
				pub.mu.Lock()
				switch (entity*versions + int(v)) % 17 {
				case 3:
					pub.refuse[ev.ID] = true
				case 9:
					pub.loseAck[ev.ID] = true
				}
				pub.mu.Unlock()
				mu.Unlock()
				if err := g.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error { return outbox.Add(ctx, tx, ev) }); err != nil {
					t.Error(err)
					return
				}
				relay.Notify()
			}
		})
		n += versions
	}
	wg.Wait()
	eventually(t, func() bool { return pending(t, e.db) == 0 }, "want the outbox empty")

	ids := e.streamIDs(t)
	if len(ids) != n {
		t.Errorf("stream holds %d events, want %d, each once", len(ids), n)
	}
	seen := map[string]bool{}
	last := map[string]int64{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("event %s is on the stream twice", id)
		}
		seen[id] = true
		mu.Lock()
		ev := byID[id]
		mu.Unlock()
		if ev.EntityVersion != last[ev.Subject]+1 {
			t.Errorf("%s: version %d after %d on the stream", ev.Subject, ev.EntityVersion, last[ev.Subject])
		}
		last[ev.Subject] = ev.EntityVersion
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.doubled) > 0 {
		t.Errorf("entities with two events in flight at once: %v", pub.doubled)
	}
	if pub.most < 2 {
		t.Errorf("at most %d event in flight: the relay did not stream", pub.most)
	}
	if len(pub.refuse)+len(pub.loseAck) > 0 {
		t.Errorf("%d injected failures never happened", len(pub.refuse)+len(pub.loseAck))
	}
}

// TestStreamingRelaySendsABacklogAsGroups: a relay that starts on a
// backlog, on a GroupPublisher, sends it as groups rather than an event at
// a time (so a bus that fsyncs every write fsyncs once per group), at most
// groupsInFlight of them at once, and the stream holds every event once,
// in commit order, also when a group is refused or its acknowledgement is
// lost (sent again, the bus drops the copies). Two events of one entity
// are never in flight at once.
func TestStreamingRelaySendsABacklogAsGroups(t *testing.T) {
	e := newEnv(t)
	g := newGroup(t, e.db)
	const entities, versions = 100, 3
	var mu sync.Mutex
	byID := map[string]event.Envelope{}
	var order []string
	if err := g.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for v := int64(1); v <= versions; v++ {
			for entity := range entities {
				ev, err := event.New("test", "test.thing.changed.v1", fmt.Sprintf("thing-%d", entity), v, nil)
				if err != nil {
					return err
				}
				byID[ev.ID] = ev
				order = append(order, ev.ID)
				if err := outbox.Add(ctx, tx, ev); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pub := &flakyAsyncPublisher{
		Bus: e.bus, refuse: map[string]bool{}, loseAck: map[string]bool{}, flying: map[string]bool{},
		entityOf: func(id string) string {
			mu.Lock()
			defer mu.Unlock()
			return byID[id].Subject
		},
	}
	pub.refuse[order[entities/2]] = true           // a version-1 event: its group fails unsent
	pub.loseAck[order[entities+entities/2]] = true // a version-2 event: its group is stored, the ack lost
	relay := outbox.NewRelay(g, pub, discard)
	relay.MaxBackoff = 100 * time.Millisecond
	e.run(t, relay)
	eventually(t, func() bool { return pending(t, e.db) == 0 }, "want the outbox empty")

	ids := e.streamIDs(t)
	if !slices.Equal(ids, order) {
		t.Errorf("stream holds %d events, want the %d committed, each once in commit order", len(ids), len(order))
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.doubled) > 0 {
		t.Errorf("entities with two events in flight at once: %v", pub.doubled)
	}
	if len(pub.refuse)+len(pub.loseAck) > 0 {
		t.Errorf("%d injected failures never happened", len(pub.refuse)+len(pub.loseAck))
	}
	// Each read holds one version of every entity: 100 events, sent as
	// one group each, and two of them sent again.
	if pub.groups < versions {
		t.Errorf("%d groups sent for a backlog of %d events of %d entities: want at least %d", pub.groups, len(order), entities, versions)
	}
}

// TestFlushSendsAnEntitysBurstInWaves: one Flush publishes a batch holding
// five events of one entity, a wave of acknowledgements per event, rather
// than one event of it per Flush (and transaction).
func TestFlushSendsAnEntitysBurstInWaves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var all []event.Envelope
	for v := int64(1); v <= 5; v++ {
		all = append(all, thing(t, "hot", v))
	}
	all = append(all, thing(t, "cold-1", 1), thing(t, "cold-2", 1))
	addAll(t, e.db, all)
	pub := &flakyBatchPublisher{Bus: e.bus, fail: map[string]bool{}}
	relay := outbox.NewRelay(newGroup(t, e.db), pub, discard)
	n, err := relay.Flush(ctx)
	if err != nil || n != len(all) {
		t.Fatalf("Flush = %d, %v; want all %d events in one Flush", n, err, len(all))
	}
	if n := pending(t, e.db); n != 0 {
		t.Fatalf("%d events still in the outbox", n)
	}
	id := func(ev event.Envelope) string { return ev.ID }
	want := [][]string{{id(all[0]), id(all[5]), id(all[6])}, {id(all[1])}, {id(all[2])}, {id(all[3])}, {id(all[4])}}
	if !slices.EqualFunc(pub.batches, want, slices.Equal) {
		t.Errorf("waves %v, want %v: each wave the next event of every entity", pub.batches, want)
	}
	if got := e.streamIDs(t); !slices.Equal(got, slices.Concat(want...)) {
		t.Errorf("stream holds %v, want %v", got, slices.Concat(want...))
	}
}

// BenchmarkFlushBacklogOfHotEntities drains, with Flush, a backlog of
// 1,024 events of 8 entities changed in turn (as a burst of changes to a
// few rows leaves it), and reports events/s and Flushes per drain.
func BenchmarkFlushBacklogOfHotEntities(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	relay := outbox.NewRelay(newGroup(b, e.db), e.bus, discard)
	var flushes int
	for b.Loop() {
		b.StopTimer()
		backlog := make([]event.Envelope, 1024)
		for i := range backlog {
			backlog[i] = thing(b, fmt.Sprintf("thing-%d", i%8), int64(1+i/8))
		}
		addAll(b, e.db, backlog)
		b.StartTimer()
		for {
			n, err := relay.Flush(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break // the outbox is empty
			}
			flushes++
		}
	}
	b.ReportMetric(float64(1024*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(flushes)/float64(b.N), "flushes/drain")
}

// newGroup returns a Group on db that is closed when the test ends, before
// db is (if db was opened first), so that no checkpoint outlives the test's
// temporary directory.
func newGroup(t testing.TB, db *sql.DB) *store.Group {
	g := store.NewGroup(db)
	t.Cleanup(g.Close)
	return g
}

// thing returns a change event of test entity subject at version v.
func thing(t testing.TB, subject string, v int64) event.Envelope {
	t.Helper()
	ev, err := event.New("test", "test.thing.changed.v1", subject, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// addAll commits evs to db's outbox in one transaction.
func addAll(t testing.TB, db *sql.DB, evs []event.Envelope) {
	t.Helper()
	if err := inTx(db, func(tx *sql.Tx) error {
		for _, ev := range evs {
			if err := outbox.Add(context.Background(), tx, ev); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
