package service

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/failpoint"
	"github.com/heraldev/herald/store"
)

// Projection is how a consuming service folds events into its database.
type Projection struct {
	// Apply folds one validated event into tx.
	Apply func(ctx context.Context, tx *sql.Tx, e event.Envelope) error
	// Committed, if set, runs once the transaction that applied events has
	// committed, with those events (not the duplicates it skipped): to
	// update what is kept beside the database, such as an in-memory view,
	// or to wake the outbox relay for the events Apply emitted.
	Committed func(es []event.Envelope)
}

// Handlers are a consumer's handlers: for one message at a time, and, if
// set, for batches of the messages that wait (bus.Consumer.Batch).
type Handlers struct {
	One   bus.Handler
	Batch bus.BatchHandler
}

// Project returns the handlers that fold events into s.DB with p: Apply and
// ApplyBatch.
func (s *Service) Project(reg *event.Registry, p Projection) Handlers {
	if s.fresh == nil {
		s.fresh = newFreshness(s.DB)
	}
	for _, d := range reg.Defs() {
		s.fresh.types[d.Type] = true
	}
	return Handlers{One: s.Apply(reg, p), Batch: s.ApplyBatch(reg, p)}
}

// Apply returns a handler on s.DB that parses each message as a CloudEvent,
// refuses any whose type reg does not know or whose data does not validate
// (so it is retried and then dead-lettered, never applied), and runs
// p.Apply exactly once per event id: its changes and the record of the
// event id commit in one transaction, so a redelivered event changes
// nothing. Duplicates it absorbs are counted in
// herald_events_duplicate_total. It is ApplyBatch for one message.
func (s *Service) Apply(reg *event.Registry, p Projection) bus.Handler {
	batch := s.ApplyBatch(reg, p)
	return func(ctx context.Context, m bus.Message) error { return batch(ctx, []bus.Message{m}) }
}

// ApplyBatch is Apply for a batch of messages, in one transaction: it
// parses and validates each (any refusal fails the whole batch, and the bus
// then hands each message to the Apply handler alone, which refuses just
// that one), applies those not applied before, commits once, and then runs
// p.Committed with the events it applied.
func (s *Service) ApplyBatch(reg *event.Registry, p Projection) bus.BatchHandler {
	return func(ctx context.Context, ms []bus.Message) error {
		es := make([]event.Envelope, len(ms))
		ids := make([]string, len(ms))
		for i, m := range ms {
			failpoint.InjectData(failpoint.HandlerData, m.Data)
			e, err := event.Parse(m.Data)
			if err != nil {
				return fmt.Errorf("message %d on %s: %w", m.Sequence, m.Subject, err)
			}
			if e, err = reg.Checked(e); err != nil {
				return fmt.Errorf("event %s: %w", e.ID, err)
			}
			es[i], ids[i] = e, e.ID
		}
		committed := false
		if s.fresh != nil {
			s.fresh.begin(ids)
			defer func() { s.fresh.end(ids, committed) }() // after Committed: a read waiting for them sees them
		}
		applied, err := store.ApplyEachOnce(ctx, s.Writes, ids, func(ctx context.Context, tx *sql.Tx, i int) error { return p.Apply(ctx, tx, es[i]) })
		if err != nil {
			if len(es) == 1 {
				return fmt.Errorf("apply %s %s: %w", es[0].Type, es[0].ID, err)
			}
			return fmt.Errorf("apply %d events from %s: %w", len(es), es[0].ID, err)
		}
		committed = true
		noteApplied(ctx, ids, applied)
		done := es[:0]
		now := time.Now()
		for i, ok := range applied {
			if ok {
				s.lag.Observe(now.Sub(es[i].Time).Seconds())
				done = append(done, es[i])
			} else {
				s.duplicates.Add(1)
			}
		}
		if p.Committed != nil && len(done) > 0 {
			p.Committed(done)
		}
		return nil
	}
}
