package outbox

import (
	"context"
	"sync"

	"github.com/heraldev/herald/event"
)

// Emitted collects the events that writes made with a context committed,
// so that the write's answer can name them (the Herald-Event-Id and
// Herald-Token headers). It is safe for concurrent use.
type Emitted struct {
	mu     sync.Mutex
	events []EmittedEvent
}

// EmittedEvent is one event a write committed to its outbox.
type EmittedEvent struct {
	ID   string
	Type string
}

type emittedKey struct{}

// WithEmitted returns ctx with a fresh Emitted: a Writer.InTx run with that
// ctx (or one derived from it) records in it the events it committed. Events
// added to the outbox in a transaction that did not commit are not recorded.
func WithEmitted(ctx context.Context) (context.Context, *Emitted) {
	e := &Emitted{}
	return context.WithValue(ctx, emittedKey{}, e), e
}

func emittedIn(ctx context.Context) *Emitted {
	e, _ := ctx.Value(emittedKey{}).(*Emitted)
	return e
}

// noteEmitted records e in ctx's Emitted, if it has one. Writer.InTx runs
// its transaction with an Emitted of its own and passes what it holds on
// only once the transaction committed.
func noteEmitted(ctx context.Context, e event.Envelope) {
	if em := emittedIn(ctx); em != nil {
		em.add(EmittedEvent{ID: e.ID, Type: e.Type})
	}
}

func (e *Emitted) add(es ...EmittedEvent) {
	e.mu.Lock()
	e.events = append(e.events, es...)
	e.mu.Unlock()
}

// Events returns the events recorded so far, in the order they were added.
func (e *Emitted) Events() []EmittedEvent {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EmittedEvent(nil), e.events...)
}
