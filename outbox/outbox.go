// Package outbox implements the transactional outbox: a service writes its
// entity and the event that records the change in one database transaction,
// and a Relay publishes pending events to the bus, in commit order, deleting
// each only after the bus acknowledged it.
//
// An event therefore exists if and only if its entity change committed, and a
// crash at any point loses nothing: an unpublished row is published after the
// restart, and a row published but not yet deleted is published again (the
// bus drops it by its message id, and consumers drop it by event id).
package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/store"
)

// Schema creates the outbox table. Include it in the migrations of every
// service that publishes events. seq orders the relay's reads; on PostgreSQL
// it is given out at insert, not at commit, so the relay may see a later seq
// commit first (see Relay).
var Schema = store.Migration{
	SQLite: `
CREATE TABLE outbox (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id   TEXT NOT NULL UNIQUE,
	subject    TEXT NOT NULL,
	payload    BLOB NOT NULL,
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);`,
	Postgres: `
CREATE TABLE outbox (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_id   TEXT NOT NULL UNIQUE,
	subject    TEXT NOT NULL,
	payload    BYTEA NOT NULL,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);`,
}

// addEvent is Add's statement.
const addEvent = `INSERT INTO outbox (event_id, subject, payload) VALUES ($1, $2, $3)`

// Add records e in the outbox inside tx, to be published on the NATS subject
// that e's type maps to once tx commits. Call Relay.Notify after the commit.
// An e without a traceparent gets the one of ctx's span, if any: the event
// continues the trace of the request (or the event) that caused it.
func Add(ctx context.Context, tx *sql.Tx, e event.Envelope) error {
	e = traced(ctx, e)
	noteEmitted(ctx, e)
	payload, err := e.Encode()
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, addEvent, e.ID, event.Subject(e.Type), payload); err != nil {
		return fmt.Errorf("add %s to outbox: %w", e.Type, err)
	}
	return nil
}

// Pending returns how many events wait in the outbox.
func Pending(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// Emit records in the outbox, inside tx, a new event of type typ about the
// entity with the given id (the event's subject) and version after the
// change, from source, with data as its payload.
func Emit(ctx context.Context, tx *sql.Tx, source, typ, id string, version int64, data any) error {
	e, err := event.New(source, typ, id, version, data)
	if err != nil {
		return err
	}
	return Add(ctx, tx, e)
}

// Sink is what a write service needs of its relay; *Relay is one.
type Sink interface {
	// Notify wakes the relay after a commit that added events.
	Notify()
	// Refusing returns why the bus refuses new events, or nil.
	Refusing() error
}

// Writer commits a write service's changes together with the events they
// emit. Create one per database with NewWriter. It is safe for concurrent
// use.
type Writer struct {
	group *store.Group
	sink  Sink

	prepare sync.Once
	add     *sql.Stmt // addEvent, prepared once; nil if that failed
}

// NewWriter returns a Writer that commits through g, the database's one
// store.Group, and wakes sink (the service's relay) after each commit.
func NewWriter(g *store.Group, sink Sink) *Writer {
	return &Writer{group: g, sink: sink}
}

// Emit is the package's Emit, with the outbox statement prepared once for
// the database rather than parsed again for every event. Call it inside a
// transaction of w.InTx.
func (w *Writer) Emit(ctx context.Context, tx *sql.Tx, source, typ, id string, version int64, data any) error {
	w.prepare.Do(func() {
		w.add, _ = w.group.DB().PrepareContext(context.WithoutCancel(ctx), addEvent) // on failure, Emit parses each time
	})
	if w.add == nil {
		return Emit(ctx, tx, source, typ, id, version, data)
	}
	e, err := event.New(source, typ, id, version, data)
	if err != nil {
		return err
	}
	e = traced(ctx, e)
	noteEmitted(ctx, e)
	payload, err := e.Encode()
	if err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, w.add).ExecContext(ctx, e.ID, event.Subject(e.Type), payload); err != nil {
		return fmt.Errorf("add %s to outbox: %w", e.Type, err)
	}
	return nil
}

// InTx runs fn in a transaction and, once it has committed, wakes the sink
// so the events fn emitted are published at once. On SQLite, transactions
// of concurrent callers commit together (store.Group), each undone alone if
// it fails. While the bus refuses new events (its stream is full) it runs
// nothing and returns an EUnavailable error: a write is never acknowledged
// while its event could not be stored.
//
// fn runs its statements with the context it is given (see
// store.Group.InTx).
func (w *Writer) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := w.sink.Refusing(); err != nil {
		return herald.Errorf(herald.EUnavailable,
			"the event bus is full and refuses new events, so this write was not made; retry once an operator has raised the stream's storage limit")
	}
	outer := emittedIn(ctx)
	var mine *Emitted
	if outer != nil {
		ctx, mine = WithEmitted(ctx)
	}
	if err := w.group.InTx(ctx, fn); err != nil {
		return err
	}
	if outer != nil {
		outer.add(mine.Events()...)
	}
	w.sink.Notify()
	return nil
}

// traced returns e with the traceparent of ctx's span, unless e has one.
func traced(ctx context.Context, e event.Envelope) event.Envelope {
	if e.TraceParent == "" {
		e.TraceParent = observe.TraceParent(ctx)
	}
	return e
}

// Backlog is what waits in an outbox: how many events, and since when the
// oldest (zero if none).
type Backlog struct {
	Depth  int
	Oldest time.Time
}

// Waiting returns db's outbox backlog.
func Waiting(ctx context.Context, db *sql.DB) (Backlog, error) {
	var b Backlog
	var oldest any
	err := db.QueryRowContext(ctx, `SELECT count(*), (SELECT created_at FROM outbox ORDER BY seq LIMIT 1) FROM outbox`).Scan(&b.Depth, &oldest)
	if err != nil {
		return b, fmt.Errorf("read outbox backlog: %w", err)
	}
	if b.Oldest, err = store.ScanTime(oldest); err != nil {
		return b, fmt.Errorf("read outbox backlog: %w", err)
	}
	return b, nil
}

// Queued returns when event id was added to db's outbox, and whether it
// still waits there to be published.
func Queued(ctx context.Context, db *sql.DB, id string) (time.Time, bool, error) {
	return store.TimeOf(ctx, db, `SELECT created_at FROM outbox WHERE event_id = $1`, id)
}
