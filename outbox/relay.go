package outbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/internal/failpoint"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/store"
)

// Publisher stores an event durably on the bus. It returns nil only once the
// bus acknowledged the event; id lets the bus drop a re-published duplicate.
type Publisher interface {
	Publish(ctx context.Context, subject, id string, payload []byte) error
}

// Relay publishes an outbox's events in order. Create it with NewRelay, start
// Run in its own goroutine and call Notify after each commit that added an
// event. Notify and Published are safe for concurrent use.
type Relay struct {
	db   *sql.DB
	g    *store.Group
	pub  Publisher
	log  *slog.Logger
	wake chan struct{}

	// Poll is how often the relay looks for events when nobody notified it,
	// which finds rows left by a crash. Default 1s.
	Poll time.Duration
	// Batch is the most events read from the outbox at a time. Default 128.
	Batch int
	// MaxBackoff caps the wait between attempts while the bus fails. Default 5s.
	MaxBackoff time.Duration
	// Tracer, if set, records a producer span for every publish, a child
	// of the span the event was created in (its traceparent), and sends
	// that span's context as the message's traceparent header. Without
	// it, the event's own traceparent is sent. Set it before Run.
	Tracer trace.Tracer

	count    atomic.Int64          // events published
	refusing atomic.Pointer[error] // set while the bus refuses events as full

	// On SQLite, while Run runs, acknowledged events are deleted in the
	// background, so the next batch need not wait for the delete's commit:
	// sent holds their seqs until the delete has committed, and flush skips
	// them. mu guards sent and is held while flush reads the outbox.
	mu   sync.Mutex
	sent map[int64]struct{}
	// published is, on SQLite, a seq at or below which every event has been
	// published (or is in sent): on SQLite, seqs are given out in commit
	// order, so nothing can turn up below it later, and read starts above
	// it instead of reading past every event waiting for its deletion.
	published int64
	async     bool          // a background deleter runs (Run on SQLite)
	toDelete  chan struct{} // wakes the deleter

	prepare sync.Once
	read1   *sql.Stmt // readEvents on db, prepared once; nil if that failed
}

// NewRelay returns a relay from the outbox of g's database to pub; on
// SQLite it deletes published events through g, the database's one writer.
// A nil log discards the relay's logs.
func NewRelay(g *store.Group, pub Publisher, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{
		db: g.DB(), g: g, pub: pub, log: log,
		wake:       make(chan struct{}, 1),
		sent:       map[int64]struct{}{},
		toDelete:   make(chan struct{}, 1),
		Poll:       time.Second,
		Batch:      128,
		MaxBackoff: 5 * time.Second,
	}
}

// Notify wakes the relay at once. It never blocks.
func (r *Relay) Notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Refusing returns the bus's refusal while its stream is full (wrapping
// bus.ErrStreamFull), or nil. It clears at the next successful publish.
func (r *Relay) Refusing() error {
	if p := r.refusing.Load(); p != nil {
		return *p
	}
	return nil
}

// Published returns how many events this relay has had acknowledged.
func (r *Relay) Published() int64 { return r.count.Load() }

// Run publishes pending events until ctx is cancelled, then returns nil. While
// the bus fails it retries with exponential backoff; events wait in the outbox
// meanwhile, so writes keep succeeding.
func (r *Relay) Run(ctx context.Context) error {
	if store.DialectOf(r.db) != store.Postgres {
		r.mu.Lock()
		r.async = true
		r.mu.Unlock()
		// The deleter stops after the relay, so that the events it had
		// acknowledged when ctx was cancelled are deleted too.
		dctx, stopDeletes := context.WithCancel(context.WithoutCancel(ctx))
		deleted := make(chan struct{})
		go func() { defer close(deleted); r.runDeletes(dctx) }()
		defer func() {
			stopDeletes()
			<-deleted
			r.mu.Lock()
			r.async = false
			r.mu.Unlock()
		}()
		if pub, ok := r.pub.(AsyncPublisher); ok {
			r.stream(ctx, pub)
			return nil
		}
	}
	backoff := 50 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		n, err := r.Flush(ctx)
		wait := r.Poll
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errBusy):
			wait = busyRetry
		case err != nil:
			r.log.Warn("outbox relay: publish failed, will retry", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, r.MaxBackoff)
		case n > 0:
			backoff = 50 * time.Millisecond
			r.Notify() // there may be more than one batch
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// errBusy is Flush's answer while another instance sharing the PostgreSQL
// database is relaying the outbox.
var errBusy = errors.New("another instance is relaying this outbox")

// busyRetry is how soon a relay that found another instance relaying tries
// again: the other may have read its batch before this instance's commit.
const busyRetry = 25 * time.Millisecond

// Flush publishes one batch of pending events in outbox order and deletes
// the acknowledged ones. It returns how many were published; on error the
// unacknowledged events stay in the outbox.
//
// On PostgreSQL, several instances of a service may share the database and
// each runs a relay: they take turns, one batch at a time, under an advisory
// lock held for the batch's transaction, so no two publish at once. Events of
// one entity are published in the order they were committed: each change
// takes the entity's row lock before it adds its event, so a later change's
// event gets a later seq and cannot be visible before the earlier one. Events
// of different entities may be published out of seq order (a seq given out
// earlier can commit later); consumers do not depend on that order. A relay
// that dies after publishing and before its delete commits leaves the batch
// for the next one, which republishes it with the same message ids, and
// JetStream drops the copies within its duplicate window.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	if store.DialectOf(r.db) != store.Postgres {
		return r.flush(ctx, r.db, r.sqliteDelete)
	}
	// The transaction outlives a cancelled ctx, so that the deletion of
	// events already acknowledged still commits during a shutdown.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	tx, err := r.db.BeginTx(tctx, nil)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	defer tx.Rollback() // a no-op after Commit
	ok, err := store.TryLock(tctx, tx, "herald.outbox.relay")
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	if !ok {
		return 0, errBusy
	}
	n, err := r.flush(ctx, tx, func(ctx context.Context, q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
	if cerr := tx.Commit(); cerr != nil {
		return 0, errors.Join(err, fmt.Errorf("delete published events from outbox: %w", cerr))
	}
	return n, err
}

// row is one event of the outbox.
type row struct {
	seq         int64
	id, subject string
	payload     []byte
	entity      string // see entityOf
	traceparent string // the event's
}

// outgoing returns x as the message to publish and, with a Tracer, the
// publish's span, to be ended with observe.End; nil without one.
func (r *Relay) outgoing(x row) (bus.Outgoing, trace.Span) {
	m := bus.Outgoing{Subject: x.subject, ID: x.id, Data: x.payload, TraceParent: x.traceparent}
	if r.Tracer == nil {
		return m, nil
	}
	ctx := observe.WithRemote(context.Background(), x.traceparent)
	ctx, span := r.Tracer.Start(ctx, "send "+x.subject,
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(observe.PublishAttrs(x.subject, x.id)...))
	m.TraceParent = observe.TraceParent(ctx)
	return m, span
}

// BatchPublisher is a Publisher that can have many events in flight at once
// (*jetstream.Bus is one). PublishAll returns, for each message, nil once
// the bus acknowledged it, or why not. A relay on a BatchPublisher sends a
// batch without waiting for each acknowledgement in turn.
type BatchPublisher interface {
	Publisher
	PublishAll(ctx context.Context, ms []bus.Outgoing) []error
}

// publishPipelined publishes batch in waves: each wave sends, all at once,
// the first event not yet sent of every entity in batch, and waits for the
// acknowledgements. So the next event of an entity is sent only once the
// previous one is acknowledged, and one that fails, and is sent again later,
// can never land behind its successor; after a failure no further wave is
// sent. A batch with many events of one entity (a row updated in a burst)
// goes out in one call, not one Flush, and so one transaction, per event.
// It returns the seqs of the events acknowledged, and the first failure.
func (r *Relay) publishPipelined(ctx context.Context, bp BatchPublisher, batch []row) ([]any, error) {
	entities := make([]string, len(batch))
	for i, x := range batch {
		entities[i] = x.entity
	}
	var acked []any
	sent := make([]bool, len(batch))
	for left := len(batch); left > 0; {
		seen := map[string]bool{}
		var wave []int // indexes into batch
		var ms []bus.Outgoing
		var spans []trace.Span
		for i, x := range batch {
			if sent[i] || seen[entities[i]] {
				continue
			}
			seen[entities[i]] = true
			wave = append(wave, i)
			m, span := r.outgoing(x)
			ms = append(ms, m)
			spans = append(spans, span)
		}
		var first error
		for j, err := range bp.PublishAll(ctx, ms) {
			observe.End(spans[j], err)
			i := wave[j]
			sent[i] = true
			left--
			if err != nil {
				if first == nil {
					first = r.failed(batch[i].id, err)
				}
				continue
			}
			r.refusing.Store(nil)
			failpoint.Inject(failpoint.RelayAfterAck)
			acked = append(acked, batch[i].seq)
		}
		if first != nil {
			if errors.Is(first, bus.ErrStreamFull) {
				r.refusing.Store(&first)
			}
			return acked, first
		}
	}
	return acked, nil
}

// failed returns the error for event id's failed publish, and remembers a
// full stream's refusal (see Refusing).
func (r *Relay) failed(id string, err error) error {
	pubErr := fmt.Errorf("publish event %s: %w", id, err)
	if errors.Is(err, bus.ErrStreamFull) {
		r.refusing.Store(&pubErr)
	}
	return pubErr
}

// entityOf returns the entity an encoded event is about: its source and
// subject. An event it cannot read counts as an entity of its own.
// (json.Unmarshal into two fields was twice as fast as walking the
// envelope's members with a json.Decoder and stopping before the data:
// 4.0 against 8.4 µs an event.)
// It also returns the event's traceparent, "" if it has none.
func entityOf(payload []byte) (entity, traceparent string) {
	var e struct{ Source, Subject, TraceParent string }
	if err := json.Unmarshal(payload, &e); err != nil || e.Subject == "" {
		return string(payload), e.TraceParent
	}
	return e.Source + " " + e.Subject, e.TraceParent
}

// deleteEvery is how long published events may wait for their deletion.
// Deleting them at once would cost a commit, and so an fsync, per batch,
// which slows every other write to the database and to the disk.
const deleteEvery = 100 * time.Millisecond

// runDeletes deletes the events in sent at most every deleteEvery after
// flush adds some, until ctx is done, and then once more.
func (r *Relay) runDeletes(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			r.deleteSent(context.WithoutCancel(ctx))
			return
		case <-r.toDelete:
		}
		select {
		case <-ctx.Done():
		case <-time.After(deleteEvery):
		}
		r.deleteSent(ctx)
	}
}

// deleteSent deletes the events in sent through the database's one writer
// (joining whatever group of writes commits next) and then forgets them. On
// failure they stay in sent, for the next try or a republish after a
// restart (the bus drops the copy).
func (r *Relay) deleteSent(ctx context.Context) {
	r.mu.Lock()
	seqs := make([]any, 0, len(r.sent))
	for seq := range r.sent {
		seqs = append(seqs, seq)
	}
	r.mu.Unlock()
	for len(seqs) > 0 {
		chunk := seqs[:min(len(seqs), 500)]
		seqs = seqs[len(chunk):]
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err := r.sqliteDelete(dctx, deleteStatement(len(chunk)), chunk...)
		cancel()
		if err != nil {
			r.log.Warn("outbox relay: cannot delete published events yet, will retry", "err", err)
			return
		}
		r.mu.Lock()
		for _, seq := range chunk {
			delete(r.sent, seq.(int64))
		}
		r.mu.Unlock()
	}
}

// deleteStatement deletes the outbox rows whose seqs are its n arguments.
func deleteStatement(n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	return `DELETE FROM outbox WHERE seq IN (` + strings.Join(marks, ", ") + `)`
}

// sqliteDelete runs the statement that deletes published events through
// the database's one writer, so it never waits for SQLite's write lock.
func (r *Relay) sqliteDelete(ctx context.Context, q string, args ...any) error {
	return r.g.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

// flush publishes one batch read through q and deletes, with del, the
// events the bus acknowledged.
func (r *Relay) flush(ctx context.Context, q store.Querier, del func(ctx context.Context, q string, args ...any) error) (int, error) {
	batch, err := r.read(ctx, q)
	if err != nil {
		return 0, err
	}

	var acked []any // seqs of the events the bus acknowledged
	var pubErr error
	if bp, ok := r.pub.(BatchPublisher); ok {
		acked, pubErr = r.publishPipelined(ctx, bp, batch)
	} else {
		for _, x := range batch {
			_, span := r.outgoing(x)
			err := r.pub.Publish(ctx, x.subject, x.id, x.payload)
			observe.End(span, err)
			if err != nil {
				pubErr = r.failed(x.id, err)
				break
			}
			r.refusing.Store(nil)
			failpoint.Inject(failpoint.RelayAfterAck)
			acked = append(acked, x.seq)
		}
	}
	if len(acked) == 0 {
		return 0, pubErr
	}
	r.count.Add(int64(len(acked)))
	r.mu.Lock()
	async := r.async
	if async {
		for _, seq := range acked {
			r.sent[seq.(int64)] = struct{}{}
		}
	}
	r.mu.Unlock()
	if async {
		r.advance(batch)
		select {
		case r.toDelete <- struct{}{}:
		default:
		}
		return len(acked), pubErr
	}
	// Delete exactly the acknowledged rows: on PostgreSQL a row with a lower
	// seq may have committed since the read, and must not go unpublished.
	// The context survives shutdown: the events are already on the bus, and
	// deleting them now saves a republish.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := del(dctx, deleteStatement(len(acked)), acked...); err != nil {
		return len(acked), errors.Join(pubErr, fmt.Errorf("delete published events from outbox: %w", err))
	}
	return len(acked), pubErr
}

// read returns the next batch of the outbox, in seq order, without the
// events already published and waiting for their deletion.
func (r *Relay) read(ctx context.Context, q store.Querier) ([]row, error) {
	return r.readFrom(ctx, q, -1, r.Batch)
}

// readEvents reads the outbox in seq order, above $1, at most $2 rows.
const readEvents = `SELECT seq, event_id, subject, payload FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2`

// readFrom returns up to limit events of the outbox above seq from (above
// published if from is lower), in seq order, without the events already
// published and waiting for their deletion.
func (r *Relay) readFrom(ctx context.Context, q store.Querier, from int64, limit int) ([]row, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rows *sql.Rows
	var err error
	if q == store.Querier(r.db) {
		// The streaming relay reads about once per commit: parsing the
		// statement each time cost 6% of orders' CPU.
		r.prepare.Do(func() { r.read1, _ = r.db.PrepareContext(context.WithoutCancel(ctx), readEvents) })
	}
	if q == store.Querier(r.db) && r.read1 != nil {
		rows, err = r.read1.QueryContext(ctx, max(from, r.published), limit+len(r.sent))
	} else {
		rows, err = q.QueryContext(ctx, readEvents, max(from, r.published), limit+len(r.sent))
	}
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var batch []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.seq, &x.id, &x.subject, &x.payload); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if _, sent := r.sent[x.seq]; !sent && len(batch) < limit {
			x.entity, x.traceparent = entityOf(x.payload)
			batch = append(batch, x)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return batch, nil
}

// advance raises published over the events of batch that are now in sent,
// from its start up to the first that is not. Only SQLite, where seqs follow
// commit order, may skip what lies below it.
func (r *Relay) advance(batch []row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range batch {
		if _, sent := r.sent[x.seq]; !sent {
			return
		}
		r.published = max(r.published, x.seq)
	}
}
