package journey

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
)

// redriveScan bounds how many redrive messages after an event a journey
// reads looking for the event's redrives: they are few (one per dead
// letter redriven), so this is a guard, not a window.
const redriveScan = 10_000

// Redrive is one time the event was given back to a consumer from the
// dead letters, as the redrive's message in the stream records it.
type Redrive struct {
	At       time.Time `json:"at"`
	By       string    `json:"by,omitempty"`     // who redrove it, if the redrive said
	Sequence uint64    `json:"sequence"`         // the redrive message's position in the stream
	DLQSeq   uint64    `json:"dlqSeq,omitempty"` // the dead letter it was
}

// redrives are an event's redrives by consumer, read from the stream.
type redrives struct {
	of map[string][]jetstream.StoredRedrive
	// partial says the read stopped at redriveScan messages.
	partial bool
}

// redrivesOf reads the redrives of the event stored at stored in app's
// stream: the redrive messages after it that carry its id.
func (src Sources) redrivesOf(ctx context.Context, app catalogue.App, id string, stored jetstream.Stored) (redrives, error) {
	found, more, err := src.Bus.Redrives(ctx, app.Stream, id, stored.Sequence+1, redriveScan)
	if err != nil {
		return redrives{}, fmt.Errorf("redrives of event %s: %w", id, err)
	}
	r := redrives{of: map[string][]jetstream.StoredRedrive{}, partial: more}
	for _, x := range found {
		r.of[x.Consumer] = append(r.of[x.Consumer], x)
	}
	return r, nil
}

// apply puts consumer name's redrives in step, and returns the position of
// the last one (0 if none): from then on the consumer's state on the bus
// is about that message, not the original.
func (r redrives) apply(step *Consumer, name string) uint64 {
	rs := r.of[name]
	if r.partial {
		step.Note = joinNote(step.Note, fmt.Sprintf("only the first %d redrive messages after the event were read", redriveScan))
	}
	if len(rs) == 0 {
		return 0
	}
	step.Redriven = true
	for _, x := range rs {
		step.Redrives = append(step.Redrives, Redrive{At: x.At, By: x.By, Sequence: x.Sequence, DLQSeq: x.DLQSeq})
	}
	if step.DeadAttempts == 0 { // no spans: the first redrive says what it redrove
		step.DeadAttempts, step.DeadError = rs[0].Attempts, rs[0].Error
	}
	return rs[len(rs)-1].Sequence
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
