package service

import (
	"context"
	"database/sql"
	"fmt"

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

// Apply returns a handler on s.DB that parses each message as a CloudEvent,
// refuses any whose type reg does not know or whose data does not validate
// (so it is retried and then dead-lettered, never applied), and runs
// p.Apply exactly once per event id: its changes and the record of the
// event id commit in one transaction, so a redelivered event changes
// nothing. Duplicates it absorbs are counted in
// herald_events_duplicate_total.
func (s *Service) Apply(reg *event.Registry, p Projection) bus.Handler {
	return func(ctx context.Context, m bus.Message) error {
		failpoint.InjectData(failpoint.HandlerData, m.Data)
		e, err := event.Parse(m.Data)
		if err != nil {
			return fmt.Errorf("message %d on %s: %w", m.Sequence, m.Subject, err)
		}
		if err := reg.Validate(e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		applied, err := store.ApplyOnce(ctx, s.DB, e.ID, func(tx *sql.Tx) error { return p.Apply(ctx, tx, e) })
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", e.Type, e.ID, err)
		}
		if !applied {
			s.duplicates.Add(1)
			return nil
		}
		if p.Committed != nil {
			p.Committed([]event.Envelope{e})
		}
		return nil
	}
}
