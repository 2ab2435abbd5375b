package outbox_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// thingsSchema is an outbox and versioned entities, as a write service has.
var thingsSchema = []store.Migration{outbox.Schema, {
	Postgres: `CREATE TABLE things (id BIGINT PRIMARY KEY, version BIGINT NOT NULL);
	INSERT INTO things SELECT g, 0 FROM generate_series(1, 8) AS g;`,
}}

// pgEnv is one PostgreSQL database shared by several instances (handles),
// and a JetStream server.
type pgEnv struct {
	dsn  string
	nats *testenv.NATS
}

func newPGEnv(t *testing.T) *pgEnv {
	t.Helper()
	dsn := testenv.Postgres(t)
	n := testenv.NewNATS(t, filepath.Join(t.TempDir(), "nats"), testenv.Stream{Name: stream, Subjects: []string{"test.>"}})
	return &pgEnv{dsn: dsn, nats: n}
}

// instance opens one more handle on the database, as another process would.
func (e *pgEnv) instance(t *testing.T) *sql.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	db, err := store.OpenPostgres(ctx, e.dsn, thingsSchema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// exclusivePublisher fails the test's check if two relays publish at once.
type exclusivePublisher struct {
	next     outbox.Publisher
	inFlight *atomic.Int32
	overlaps *atomic.Int32
	// during, if set, runs while the event with that id is being published.
	during func(id string)
}

func (p *exclusivePublisher) Publish(ctx context.Context, subject, id string, payload []byte) error {
	if p.inFlight.Add(1) > 1 {
		p.overlaps.Add(1)
	}
	defer p.inFlight.Add(-1)
	if p.during != nil {
		p.during(id)
	}
	return p.next.Publish(ctx, subject, id, payload)
}

// TestInstancesSharingPostgresPublishEveryEventOnceInEntityOrder: three
// instances of a service on one PostgreSQL database, each with its own
// relay, change shared entities concurrently. Every event reaches the
// stream once, the relays never publish at the same time, and each entity's
// events are in the stream in version order.
func TestInstancesSharingPostgresPublishEveryEventOnceInEntityOrder(t *testing.T) {
	e := newPGEnv(t)
	var inFlight, overlaps atomic.Int32
	type instance struct {
		db    *sql.DB
		relay *outbox.Relay
	}
	var instances []instance
	for range 3 {
		db := e.instance(t)
		relay := outbox.NewRelay(newGroup(t, db), &exclusivePublisher{next: e.nats.Bus, inFlight: &inFlight, overlaps: &overlaps}, discard)
		relay.Batch = 8
		relay.Poll = time.Hour // every publish must come from a Notify or a busy retry
		instances = append(instances, instance{db, relay})
		runRelay(t, relay)
	}

	const writers, writes = 6, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		in := instances[w%len(instances)]
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range writes {
				id := 1 + rng.IntN(8)
				err := store.InTx(context.Background(), in.db, func(tx *sql.Tx) error {
					var v int64
					// The entity's row lock orders its changes, as in the services.
					if err := tx.QueryRow(`UPDATE things SET version = version + 1 WHERE id = $1 RETURNING version`, id).Scan(&v); err != nil {
						return err
					}
					ev, err := event.New("test", "test.thing.changed.v1", strconv.Itoa(id), v, nil)
					if err != nil {
						return err
					}
					return outbox.Add(context.Background(), tx, ev)
				})
				if err != nil {
					errs <- err
					return
				}
				in.relay.Notify()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = writers * writes
	ctx := context.Background()
	eventually(t, func() bool {
		n, err := outbox.Pending(ctx, instances[0].db)
		last, lerr := e.nats.Bus.LastSeq(ctx, stream)
		return err == nil && lerr == nil && n == 0 && last >= total
	}, fmt.Sprintf("all %d events published and the outbox empty", total))

	msgs, err := e.nats.Bus.Read(ctx, stream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	lastVersion := map[string]int64{}
	for _, m := range msgs {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ev.ID] {
			t.Errorf("event %s is in the stream twice", ev.ID)
		}
		seen[ev.ID] = true
		if ev.EntityVersion != lastVersion[ev.Subject]+1 {
			t.Errorf("entity %s: version %d follows version %d in the stream; want each entity's events in commit order",
				ev.Subject, ev.EntityVersion, lastVersion[ev.Subject])
		}
		lastVersion[ev.Subject] = ev.EntityVersion
	}
	if len(msgs) != total {
		t.Errorf("stream holds %d events, want %d", len(msgs), total)
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("relays of different instances published at the same time %d times; want one at a time", n)
	}
}

// TestEventCommittedWhileARelayPublishesIsNotLost: on PostgreSQL a
// transaction that took a lower seq can commit after the relay read a higher
// one. The relay deletes exactly what it published, so that event stays and
// is published next.
func TestEventCommittedWhileARelayPublishesIsNotLost(t *testing.T) {
	e := newPGEnv(t)
	db := e.instance(t)
	ctx := context.Background()
	add := func(tx *sql.Tx, subject string) string {
		t.Helper()
		ev := newEvent(t, subject)
		if err := outbox.Add(ctx, tx, ev); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	slow, err := db.BeginTx(ctx, nil) // takes the lower seq, commits last
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Rollback()
	late := add(slow, "late")
	var early string
	if err := store.InTx(ctx, db, func(tx *sql.Tx) error { early = add(tx, "early"); return nil }); err != nil {
		t.Fatal(err)
	}

	var inFlight, overlaps atomic.Int32
	pub := &exclusivePublisher{next: e.nats.Bus, inFlight: &inFlight, overlaps: &overlaps, during: func(id string) {
		if id == early { // the slow transaction commits while the relay publishes
			if err := slow.Commit(); err != nil {
				t.Error(err)
			}
		}
	}}
	relay := outbox.NewRelay(newGroup(t, db), pub, discard)
	if n, err := relay.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("first Flush = %d, %v; want the one committed event", n, err)
	}
	if n := pending(t, db); n != 1 {
		t.Fatalf("outbox holds %d events after the first flush, want 1 (the late commit)", n)
	}
	if n, err := relay.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("second Flush = %d, %v; want the late event", n, err)
	}
	got := map[string]bool{}
	for _, id := range idsOn(t, e) {
		got[id] = true
	}
	if !got[early] || !got[late] || len(got) != 2 {
		t.Fatalf("stream holds %v, want both %s and %s", got, early, late)
	}
}

func idsOn(t *testing.T, e *pgEnv) []string {
	t.Helper()
	msgs, err := e.nats.Bus.Read(context.Background(), stream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// runRelay runs relay until the test ends.
func runRelay(t *testing.T, relay *outbox.Relay) {
	t.Helper()
	(&env{}).run(t, relay)
}
