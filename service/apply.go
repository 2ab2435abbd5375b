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

// Apply returns a handler on s.DB that parses each message as a CloudEvent, refuses
// any whose type reg does not know or whose data does not validate (so it is
// retried and then dead-lettered, never applied), and runs apply exactly once
// per event id: apply's changes and the record of the event id commit in one
// transaction, so a redelivered event changes nothing.
// Duplicates it absorbs are counted in herald_events_duplicate_total.
func (s *Service) Apply(reg *event.Registry, apply func(ctx context.Context, tx *sql.Tx, e event.Envelope) error) bus.Handler {
	return func(ctx context.Context, m bus.Message) error {
		failpoint.InjectData(failpoint.HandlerData, m.Data)
		e, err := event.Parse(m.Data)
		if err != nil {
			return fmt.Errorf("message %d on %s: %w", m.Sequence, m.Subject, err)
		}
		if err := reg.Validate(e); err != nil {
			return fmt.Errorf("event %s: %w", e.ID, err)
		}
		applied, err := store.ApplyOnce(ctx, s.DB, e.ID, func(tx *sql.Tx) error { return apply(ctx, tx, e) })
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", e.Type, e.ID, err)
		}
		if !applied {
			s.duplicates.Add(1)
		}
		return nil
	}
}
