package dlq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/service"
)

// Actions a Plan decides on a dead letter.
const (
	Redrive = "redrive"         // give it back to its consumer
	Applied = "already-applied" // left: the consumer's service applied the event since
	OverMax = "over-max"        // left: the plan's max is reached
	Missing = "missing"         // no dead letter at the position named
)

// askTimeout bounds each question to a service.
const askTimeout = 3 * time.Second

// Asker GETs path (with the operator token) from the running service
// called service and decodes its JSON answer into v; it returns an error
// if the service does not answer (the shape of dashboard.Options.Ask).
type Asker func(ctx context.Context, service, path string, v any) error

// Redriver chooses and performs redrives. Its fields are read-only once
// set; it is then safe for concurrent use.
type Redriver struct {
	Bus       *jetstream.Bus      // as the admin identity; required
	Catalogue catalogue.Catalogue // which service runs which consumer
	// Ask asks a service whether it applied an event; nil asks no one,
	// and every dead letter is redriven with a note that none was asked.
	Ask Asker
}

// Decision is what a Plan does with one dead letter, and why.
type Decision struct {
	Seq      uint64    `json:"seq"`               // its position in the DLQ
	Consumer string    `json:"consumer"`          // the consumer that failed it, and that a redrive goes to
	Service  string    `json:"service,omitempty"` // the service that runs Consumer
	Stream   string    `json:"stream,omitempty"`
	Subject  string    `json:"subject,omitempty"` // the event's original subject
	EventID  string    `json:"eventId,omitempty"`
	Type     string    `json:"type,omitempty"`
	FailedAt time.Time `json:"failedAt,omitzero"`
	Action   string    `json:"action"` // Redrive, Applied, OverMax or Missing
	// Reason says why, for a person: "query has not applied it", "already
	// applied by query at ...: skipped; discard it with herald dlq discard
	// 3", "could not ask query ...; redriving anyway: ...".
	Reason string `json:"reason"`
	// AppliedAt is when Service applied the event (Action Applied).
	AppliedAt time.Time `json:"appliedAt,omitzero"`
	// Unchecked says no service could say whether it applied the event:
	// it is redriven on the strength of the consumer's idempotency.
	Unchecked bool `json:"unchecked,omitempty"`
}

// Plan is the decisions on the dead letters a Filter named, oldest (by
// DLQ position) first. It changes nothing: Run carries it out.
type Plan struct {
	Decisions []Decision `json:"decisions"`
	Max       int        `json:"max,omitempty"` // at most this many Redrive decisions; 0 is no limit
}

// Count returns how many decisions are action.
func (p Plan) Count(action string) int {
	n := 0
	for _, d := range p.Decisions {
		if d.Action == action {
			n++
		}
	}
	return n
}

// Select returns the dead letters f names, oldest first, and the positions
// f names that hold no dead letter. It returns an error if f.Check does,
// or if the DLQ cannot be read.
func (r Redriver) Select(ctx context.Context, f Filter) ([]bus.DeadLetter, []uint64, error) {
	if err := f.Check(); err != nil {
		return nil, nil, err
	}
	var letters []bus.DeadLetter
	var missing []uint64
	if len(f.Seqs) > 0 {
		seqs := slices.Clone(f.Seqs)
		slices.Sort(seqs)
		for _, seq := range slices.Compact(seqs) {
			d, err := r.Bus.DeadLetter(ctx, seq)
			if errors.Is(err, jetstream.ErrNoDeadLetter) {
				missing = append(missing, seq)
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			letters = append(letters, d)
		}
	} else {
		all, err := r.Bus.DeadLetters(ctx, f.Consumer)
		if err != nil {
			return nil, nil, fmt.Errorf("read the dead letters: %w", err)
		}
		letters = all
	}
	return slices.DeleteFunc(letters, func(d bus.DeadLetter) bool { return !f.Match(d) }), missing, nil
}

// Plan decides, oldest first, what to do with each dead letter f names:
// redrive it, unless its consumer's service says it applied the event
// since (Applied), or max (if positive) redrives are already planned
// (OverMax, without asking). A service that cannot be asked, or cannot
// say, does not stop a redrive: the decision notes it (Unchecked). It
// changes nothing; it returns an error if f names nothing or the DLQ
// cannot be read.
func (r Redriver) Plan(ctx context.Context, f Filter, max int) (Plan, error) {
	letters, missing, err := r.Select(ctx, f)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Decisions: []Decision{}, Max: max}
	for _, seq := range missing {
		p.Decisions = append(p.Decisions, Decision{Seq: seq, Action: Missing,
			Reason: fmt.Sprintf("no dead letter at %d: redriven or discarded already?", seq)})
	}
	planned := 0
	down := map[string]error{} // services that did not answer: not asked again
	for _, d := range letters {
		if err := ctx.Err(); err != nil {
			return Plan{}, fmt.Errorf("plan the redrive: %w", err) // never decide on an answer that timed out
		}
		dec := decision(d)
		if _, svc, _, ok := r.Catalogue.Consumer(d.Consumer); ok {
			dec.Service = svc.Name
		}
		if max > 0 && planned >= max {
			dec.Action, dec.Reason = OverMax, fmt.Sprintf("left in the dead letters: the max of %d is reached", max)
		} else {
			r.decide(ctx, &dec, down)
		}
		if dec.Action == Redrive {
			planned++
		}
		p.Decisions = append(p.Decisions, dec)
	}
	slices.SortStableFunc(p.Decisions, func(a, b Decision) int { return cmp.Compare(a.Seq, b.Seq) })
	return p, nil
}

func decision(d bus.DeadLetter) Decision {
	ev := EventOf(d)
	return Decision{Seq: d.Seq, Consumer: d.Consumer, Stream: d.Stream, Subject: d.Subject,
		EventID: ev.ID, Type: ev.Type, FailedAt: d.FailedAt}
}

// anyway is why a redrive the service could not vouch for is still safe.
const anyway = "redriving anyway: a consumer that records the events it applies (processed_events) skips one it has applied, so a duplicate changes nothing"

// decide sets dec's action and reason from what its consumer's service
// says of the event. A service that does not answer at all (its
// connection fails or times out) is noted in down and not asked again.
func (r Redriver) decide(ctx context.Context, dec *Decision, down map[string]error) {
	dec.Action = Redrive
	unchecked := func(why string) { dec.Reason, dec.Unchecked = why+"; "+anyway, true }
	switch {
	case dec.Service == "":
		unchecked("no service in the catalogue runs consumer " + dec.Consumer + ", so none was asked whether it applied the event")
		return
	case dec.EventID == "":
		unchecked("the dead letter names no event id to ask " + dec.Service + " about")
		return
	case r.Ask == nil:
		unchecked(dec.Service + " was not asked whether it applied the event")
		return
	}
	if err := down[dec.Service]; err != nil {
		unchecked(fmt.Sprintf("could not ask %s whether it applied the event (%v)", dec.Service, err))
		return
	}
	actx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	var j service.Journey
	if err := r.Ask(actx, dec.Service, "/journey?"+url.Values{"event": {dec.EventID}}.Encode(), &j); err != nil {
		if unreachable(err) {
			down[dec.Service] = err
		}
		unchecked(fmt.Sprintf("could not ask %s whether it applied the event (%v)", dec.Service, err))
		return
	}
	switch {
	case !slices.Contains(j.Consumers, dec.Consumer):
		unchecked(fmt.Sprintf("the %s that answered runs %v, not %s (another replica?), so it cannot say", dec.Service, j.Consumers, dec.Consumer))
	case j.Applied != nil:
		dec.Action, dec.AppliedAt = Applied, *j.Applied
		dec.Reason = fmt.Sprintf("already applied by %s at %s: skipped; discard it with herald dlq discard %d",
			dec.Service, j.Applied.UTC().Format(time.RFC3339), dec.Seq)
	case !j.Records:
		unchecked(dec.Service + " does not record the events it handles, so it cannot say whether it applied this one")
	default:
		dec.Reason = dec.Service + " has not applied it"
	}
}

// unreachable reports whether err says a service did not answer at all,
// rather than answered with an error about one event.
func unreachable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
