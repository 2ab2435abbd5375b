package outbox

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/internal/failpoint"
	"github.com/heraldev/herald/observe"
)

// AsyncPublisher is a Publisher that sends an event without waiting for its
// acknowledgement (*jetstream.Bus is one). PublishAsync returns at once;
// wait blocks until the bus acknowledged m durably (nil) or refused it, or
// ctx is done. Every wait returns in bounded time: an acknowledgement that
// never comes fails it.
type AsyncPublisher interface {
	Publisher
	PublishAsync(m bus.Outgoing) (wait func(ctx context.Context) error)
}

// GroupPublisher is an AsyncPublisher that can also send many events as
// one unit (*jetstream.Bus is one, as atomic batches). PublishGroup
// returns at once; wait blocks until the bus acknowledged every event of
// ms durably (nil), or one failed, or ctx is done. After a failure any of
// them may be stored: the relay sends them all again, and the bus drops
// the copies by id. Like every wait, it returns in bounded time.
type GroupPublisher interface {
	AsyncPublisher
	PublishGroup(ms []bus.Outgoing) (wait func(ctx context.Context) error)
}

// streamWindow is the most events a streaming relay has in flight.
const streamWindow = 256

// groupMin is the fewest events a streaming relay sends as a group. A
// group costs the bus more than it saves on a few events (an atomic batch
// is staged in files of its own before it is stored: at 1,000 orders/s,
// reads of one to three events sent as groups raised the propagation
// lag's median from 7 to 41 ms); a read that long means a backlog, which
// the group drains with one fsync instead of one per event.
const groupMin = 32

// groupsInFlight is the most groups (see GroupPublisher) a streaming relay
// has in flight; events read while that many are, go one by one. A server
// holds at most 50 open atomic batches per stream, for every publisher.
const groupsInFlight = 4

// inFlight is an event, or a group of events, sent and not yet settled.
type inFlight struct {
	xs       []row
	entities []string
	spans    []trace.Span // of the publishes, with a Tracer
	wait     func(context.Context) error
	err      error // set by the collector
}

// stream is Run on SQLite with an AsyncPublisher: rather than publish a
// batch and wait for all of its acknowledgements before reading the next,
// it keeps sending each event as soon as it is committed, up to
// streamWindow in flight, and settles each as its acknowledgement comes
// back. At a steady rate most batches hold one event, and an event
// committed while the previous one's fsync on the bus is under way would
// otherwise wait for it; here it goes out at once.
//
// With a GroupPublisher, a read of groupMin events or more (a backlog)
// goes as one group, up to groupsInFlight groups in flight: a bus that
// fsyncs every write then fsyncs once per group, and at a rate above its
// rate of fsyncs the reads, and so the groups, grow with the backlog.
//
// The orders kept are Flush's: never two events of one entity in flight,
// so one that fails and is sent again cannot land behind its successor.
// After a failure nothing new is sent until every event in flight has
// settled; the relay then waits its backoff and reads again from the
// lowest seq not yet acknowledged (events acknowledged meanwhile are in
// sent and are skipped).
func (r *Relay) stream(ctx context.Context, pub AsyncPublisher) {
	// The waits outlive a cancelled ctx: an event already sent is settled
	// (acknowledged, so deleted, or not) before Run returns, each wait
	// bounded by the publisher.
	wctx := context.WithoutCancel(ctx)
	sent := make(chan *inFlight, streamWindow)
	settled := make(chan *inFlight, streamWindow)
	go func() {
		defer close(settled)
		// Acknowledgements on one connection come back in the order sent,
		// so waiting for them in turn delays none.
		for f := range sent {
			f.err = f.wait(wctx)
			settled <- f
		}
	}()
	gp, grouping := pub.(GroupPublisher)
	busy := map[string]bool{} // entities with an event in flight
	n := 0                    // events in flight
	groups := 0               // groups in flight
	next := r.lowWater()      // the last seq sent; the next read starts above it
	var failure error         // the first failure since the last retry
	read := true              // the outbox may hold events not yet sent
	held := false             // the last read left events behind: an entity busy, or the window full
	backoff := 50 * time.Millisecond
	timer := time.NewTimer(r.Poll)
	defer timer.Stop()
	reset := func(d time.Duration) {
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(d)
	}
	// settle takes f off the flight. Settlements come in the order the
	// events were sent, which is seq order since the last retry: with no
	// failure since then, every event up to f's is acknowledged.
	settle := func(f *inFlight) {
		n -= len(f.xs)
		if len(f.xs) > 1 { // only groups hold more than one
			groups--
		}
		for _, e := range f.entities {
			delete(busy, e)
		}
		for _, span := range f.spans {
			observe.End(span, f.err)
		}
		if f.err != nil {
			err := r.failed(f.xs[0].id, f.err)
			if failure == nil {
				failure = err
			}
			return
		}
		for _, x := range f.xs {
			r.acknowledged(x.seq, failure == nil)
		}
	}
	// send puts xs, about entities, in flight: as one group if it can.
	send := func(xs []row, entities []string) {
		if grouping && len(xs) >= groupMin && groups < groupsInFlight {
			ms := make([]bus.Outgoing, len(xs))
			var spans []trace.Span
			for i, x := range xs {
				var span trace.Span
				if ms[i], span = r.outgoing(x); span != nil {
					spans = append(spans, span)
				}
			}
			groups++
			sent <- &inFlight{xs: xs, entities: entities, spans: spans, wait: gp.PublishGroup(ms)}
			return
		}
		for i, x := range xs {
			m, span := r.outgoing(x)
			f := &inFlight{xs: xs[i : i+1], entities: entities[i : i+1], wait: pub.PublishAsync(m)}
			if span != nil {
				f.spans = []trace.Span{span}
			}
			sent <- f
		}
	}
	defer func() {
		close(sent)
		for f := range settled {
			settle(f)
		}
	}()

	for {
		if read && failure == nil && n < streamWindow {
			read = false
			// (Without ctx's cancellation: see store.Group.StatementContext.)
			batch, err := r.readFrom(context.WithoutCancel(ctx), r.db, next, streamWindow-n)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				r.log.Warn("outbox relay: cannot read the outbox, will retry", "err", err, "retry_in", backoff)
				reset(backoff)
				backoff = min(backoff*2, r.MaxBackoff)
			}
			held = len(batch) == streamWindow-n
			var entities []string
			for i, x := range batch {
				entity := x.entity
				if busy[entity] {
					held = true // sent once the event in flight settles
					batch = batch[:i]
					break
				}
				busy[entity] = true
				entities = append(entities, entity)
			}
			if len(batch) > 0 {
				n += len(batch)
				next = batch[len(batch)-1].seq
				send(batch, entities)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
			read = true
		case <-timer.C:
			read = true
			if failure != nil && n == 0 {
				failure = nil
			}
			reset(r.Poll)
		case f := <-settled:
			settle(f)
			for more := true; more; {
				select {
				case f := <-settled:
					settle(f)
				default:
					more = false
				}
			}
			// What the last read left behind may go now. (New events wake
			// the relay themselves: reading after every settlement too
			// would cost a query per acknowledgement.)
			read = read || held
			switch {
			case failure == nil:
				backoff = 50 * time.Millisecond
			case n == 0:
				r.log.Warn("outbox relay: publish failed, will retry", "err", failure, "retry_in", backoff)
				next = r.lowWater()
				reset(backoff)
				backoff = min(backoff*2, r.MaxBackoff)
			}
		}
	}
}

// acknowledged records that the bus acknowledged the event at seq: it is
// counted and handed to the background deleter, and if every event below
// it is acknowledged too (upTo), reads start above it.
func (r *Relay) acknowledged(seq int64, upTo bool) {
	r.refusing.Store(nil)
	failpoint.Inject(failpoint.RelayAfterAck)
	r.count.Add(1)
	r.mu.Lock()
	r.sent[seq] = struct{}{}
	if upTo {
		r.published = max(r.published, seq)
	}
	r.mu.Unlock()
	select {
	case r.toDelete <- struct{}{}:
	default:
	}
}

// lowWater returns the seq at or below which every event is acknowledged.
func (r *Relay) lowWater() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published
}
