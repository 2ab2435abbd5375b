// Package journey tells where one event went: which service committed it
// and when, where the relay published it, and for every consumer that
// subscribes to its subject whether it applied it, has it still to come,
// is retrying it or dead-lettered it, with the event's trace.
//
// It keeps no record of its own. Every fact comes from where it already
// lives: the catalogue (who owns the event type, which consumers receive
// its subject), the stream (the event, its position and its stored time),
// the consumers' state on the bus (how far each has come), the DLQ, each
// service's processed_events and outbox, and the spans each process keeps
// in its ring, read through the services' GET /journey. `herald trace`
// prints it; the dashboard draws it.
package journey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
)

// Outcomes of a consumer's step.
const (
	Applied      = "applied"       // the consumer's read model has the event
	Delivered    = "delivered"     // pushed to a subscriber, who took it
	Pending      = "pending"       // not delivered yet: the consumer is behind
	InProgress   = "in-progress"   // delivered, not yet settled
	Retrying     = "retrying"      // failed, and will be delivered again
	DeadLettered = "dead-lettered" // failed every attempt; in the DLQ
	NoConsumer   = "not-started"   // the bus has no such consumer yet
	Unknown      = "unknown"       // the bus could not say
)

// Journey is one event's way through the system.
type Journey struct {
	Event     *Event     `json:"event"`
	TraceID   string     `json:"traceId,omitempty"`
	Committed *Step      `json:"committed,omitempty"`
	Queued    *Step      `json:"queued,omitempty"` // still in its service's outbox, not published
	Published *Published `json:"published,omitempty"`
	Consumers []Consumer `json:"consumers"`
	// Spans are the trace's spans from every service that answered, oldest
	// first.
	Spans []observe.Span `json:"spans"`
	// Unreachable are the services whose GET /journey did not answer: their
	// spans and database facts are missing, the bus's facts are not.
	Unreachable []string `json:"unreachable,omitempty"`
}

// Event is the event itself, as stored.
type Event struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject"` // the NATS subject
	Entity  string    `json:"entity,omitempty"`
	Time    time.Time `json:"time"`
	Data    []byte    `json:"data,omitempty"` // the stored CloudEvent
}

// Step is something a service did with the event, and when.
type Step struct {
	Service string    `json:"service"`
	At      time.Time `json:"at"`
}

// Published is where the event is on the bus.
type Published struct {
	Stream   string        `json:"stream"`
	Sequence uint64        `json:"sequence"`
	At       time.Time     `json:"at"`
	After    time.Duration `json:"afterCommitNanos"`
}

// Consumer is one consumer's step of the journey.
type Consumer struct {
	Service  string `json:"service"`
	Consumer string `json:"consumer"` // the durable consumer
	Outcome  string `json:"outcome"`
	// At is when the consumer applied (or dead-lettered) the event, and
	// After how long that was after the commit.
	At    time.Time     `json:"at,omitzero"`
	After time.Duration `json:"afterCommitNanos,omitempty"`
	// Attempt is the last attempt the spans show; Error its error (or the
	// DLQ's).
	Attempt int    `json:"attempt,omitempty"`
	Error   string `json:"error,omitempty"`
	// Duplicates are later deliveries of the event the consumer recognised
	// and skipped.
	Duplicates int `json:"duplicates,omitempty"`
	// For a pending event: the consumer has settled everything up to
	// AckFloor, and has Waiting messages not yet delivered.
	AckFloor uint64 `json:"ackFloor,omitempty"`
	Waiting  uint64 `json:"waiting,omitempty"`
	// DLQSeq is the event's position in the DLQ (for herald dlq redrive).
	DLQSeq uint64 `json:"dlqSeq,omitempty"`
	// Redriven says the event was given back to the consumer from the
	// dead letters after DeadAttempts attempts (DeadError the last one's
	// error): the stream holds its redrives (Redrives), or the spans show
	// it dead-lettered before it was applied.
	Redriven     bool   `json:"redriven,omitempty"`
	DeadAttempts int    `json:"deadAttempts,omitempty"`
	DeadError    string `json:"deadError,omitempty"`
	// Redrives are when, and by whom, the event was redriven to this
	// consumer, oldest first: read from the stream, where each redrive's
	// message stays, so they outlive the spans and need no tracing.
	Redrives []Redrive `json:"redrives,omitempty"`
	Note     string    `json:"note,omitempty"`
}

// Sources are where a journey's facts are read.
type Sources struct {
	Bus       *jetstream.Bus
	Catalogue catalogue.Catalogue
	// Service asks the running service called name for its part of the
	// journey (its GET /journey with q).
	Service func(ctx context.Context, name string, q url.Values) (service.Journey, error)
	// Scan bounds how many stream messages are read looking for an event;
	// default 1,000,000.
	Scan int
}

// ErrNotFound is returned for an event or trace no source knows.
var ErrNotFound = errors.New("not found")

var traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// IsTraceID reports whether s is a trace id (32 lower-case hex digits)
// rather than an event id.
func IsTraceID(s string) bool { return traceID.MatchString(s) }

// Of returns the journey of the event, or of the first event of the
// trace, that idOrTrace names.
func Of(ctx context.Context, src Sources, idOrTrace string) (Journey, error) {
	j := Journey{Consumers: []Consumer{}, Spans: []observe.Span{}}
	eventID := idOrTrace
	if IsTraceID(idOrTrace) {
		j.TraceID = idOrTrace
		parts := src.ask(ctx, &j, url.Values{"trace": {j.TraceID}}, src.Catalogue)
		j.Spans = spansOf(parts)
		if eventID = firstEvent(j.Spans); eventID == "" {
			if len(j.Spans) == 0 {
				return j, fmt.Errorf("trace %s: %w in any running service's span ring (it may be older than the ring keeps)", j.TraceID, ErrNotFound)
			}
			return j, nil // a trace that carried no event: its spans are the journey
		}
		j.Unreachable = nil
	}
	return src.event(ctx, j, eventID)
}

// firstEvent returns the id of the first event spans publish or process.
func firstEvent(spans []observe.Span) string {
	for _, s := range spans {
		if id := s.Attr(string(observe.AttrMessageID)); id != "" {
			return id
		}
	}
	return ""
}

func (src Sources) event(ctx context.Context, j Journey, id string) (Journey, error) {
	near, _ := event.IDTime(id)
	scan := cmp.Or(src.Scan, 1_000_000)
	var app catalogue.App
	var stored jetstream.Stored
	found := false
	for _, a := range src.Catalogue {
		m, ok, err := src.Bus.Find(ctx, a.Stream, id, near, scan)
		if err != nil {
			return j, fmt.Errorf("look for event %s on %s: %w", id, a.Stream, err)
		}
		if ok {
			app, stored, found = a, m, true
			break
		}
	}
	q := url.Values{"event": {id}}
	if found {
		e, err := event.Parse(stored.Data)
		if err != nil {
			return j, fmt.Errorf("event %s on %s at %d: %w", id, app.Stream, stored.Sequence, err)
		}
		j.Event = &Event{ID: e.ID, Type: e.Type, Source: e.Source, Subject: stored.Subject, Entity: e.Subject, Time: e.Time, Data: stored.Data}
		if j.TraceID == "" {
			if sc := observe.Remote(e.TraceParent); sc.IsValid() {
				j.TraceID = sc.TraceID().String()
			} else if tp := first(stored.Header[jetstream.HeaderTraceParent]); tp != "" {
				if sc := observe.Remote(tp); sc.IsValid() {
					j.TraceID = sc.TraceID().String()
				}
			}
		}
		j.Published = &Published{Stream: app.Stream, Sequence: stored.Sequence, At: stored.Time, After: stored.Time.Sub(e.Time)}
	}
	if j.TraceID != "" {
		q.Set("trace", j.TraceID)
	}
	apps := src.Catalogue
	if found {
		apps = catalogue.Catalogue{app} // only its services can have handled it
	}
	parts := src.ask(ctx, &j, q, apps)
	j.Spans = spansOf(parts)
	if found {
		// The service that published it: the one whose span says so, else
		// the type's owner (the gateway relays types that services own).
		owner := ownerOf(app, j.Event.Type, stored.Subject)
		for _, sp := range j.Spans {
			if sp.Kind == "producer" && sp.Attr(string(observe.AttrMessageID)) == id {
				owner = sp.Service
				break
			}
		}
		j.Committed = &Step{Service: owner, At: j.Event.Time}
	}
	if !found {
		for name, p := range parts {
			if p.Queued != nil {
				j.Queued = &Step{Service: name, At: *p.Queued}
				j.Committed = &Step{Service: name, At: *p.Queued}
			}
		}
		if j.Queued == nil {
			where := "the first event"
			if !near.IsZero() {
				where = near.Format(time.RFC3339)
			}
			return j, fmt.Errorf("event %s: %w: not on any stream (read from %s, at most %d messages) nor in any running service's outbox", id, ErrNotFound, where, scan)
		}
		return j, nil // not published yet: no consumer has it
	}
	onBus, err := src.Bus.ConsumerNames(ctx, app.Stream)
	if err != nil {
		return j, err
	}
	redriven, err := src.redrivesOf(ctx, app, id, stored)
	if err != nil {
		return j, err
	}
	for _, svc := range app.Services {
		for _, c := range svc.Consumes {
			if !c.Receives(stored.Subject) {
				continue
			}
			names := []string{app.Durable(svc, c, "")}
			switch {
			case c.PerSubscription:
				names = perSubscription(j.Spans, c.Name) // made at run time: those the spans show
			case svc.ReadModel:
				names = replicas(onBus, names[0]) // each replica has its own
			}
			for _, name := range names {
				step, err := src.consumer(ctx, app, svc, name, stored, j, parts[svc.Name], redriven)
				if err != nil {
					return j, err
				}
				j.Consumers = append(j.Consumers, step)
			}
		}
	}
	return j, nil
}

// replicas returns the consumers of a read model's replicas on the bus:
// base itself and base-<replica>, or base alone if the bus has none yet.
func replicas(onBus []string, base string) []string {
	var out []string
	for _, n := range onBus {
		if n == base || strings.HasPrefix(n, base+"-") {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []string{base}
	}
	slices.Sort(out)
	return out
}

// perSubscription returns the consumers named prefix... that spans show.
func perSubscription(spans []observe.Span, prefix string) []string {
	var out []string
	for _, s := range spans {
		if n := s.Attr(string(observe.AttrConsumer)); strings.HasPrefix(n, prefix) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// ownerOf is the service that published an event of typ on subject: its
// owner in the catalogue, or the app's ingress for an event from outside.
func ownerOf(app catalogue.App, typ, subject string) string {
	if s, ok := app.Owner(typ); ok {
		return s.Name
	}
	for _, s := range app.Services {
		if s.Ingress != "" && catalogue.SubjectMatches(s.Ingress, subject) {
			return s.Name
		}
	}
	return ""
}

func (src Sources) consumer(ctx context.Context, app catalogue.App, svc catalogue.Service, name string,
	stored jetstream.Stored, j Journey, part *service.Journey, redriven redrives) (Consumer, error) {
	step := Consumer{Service: svc.Name, Consumer: name}
	id := j.Event.ID
	var spans []observe.Span
	for _, s := range j.Spans {
		if s.Attr(string(observe.AttrConsumer)) == name && s.Attr(string(observe.AttrMessageID)) == id {
			spans = append(spans, s)
		}
	}
	// What the spans say: the first success, the duplicates after it, the
	// last failure, and a dead letter before the success (a redrive).
	var ok *observe.Span
	for i, s := range spans {
		n, _ := strconv.Atoi(s.Attr(string(observe.AttrAttempt)))
		step.Attempt = max(step.Attempt, n)
		switch s.Attr(string(observe.AttrOutcome)) {
		case observe.OutcomeApplied, observe.OutcomeDelivered:
			if ok == nil {
				ok = &spans[i]
				step.Redriven = step.DeadAttempts > 0
			}
		case observe.OutcomeDuplicate:
			step.Duplicates++
		case observe.OutcomeDeadLettered:
			if ok == nil {
				step.DeadAttempts, step.DeadError = n, s.Error
			}
			step.Error = s.Error
		case observe.OutcomeRetried:
			step.Error = s.Error
		}
	}
	if !step.Redriven {
		step.DeadAttempts, step.DeadError = 0, ""
	}
	// The consumer's state on the bus is about its latest message of the
	// event: the last redrive, if any.
	seq := stored.Sequence
	if last := redriven.apply(&step, name); last > 0 {
		seq = last
	}
	dead, err := src.Bus.DeadLetters(ctx, name)
	if err != nil {
		return step, fmt.Errorf("dead letters of %s: %w", name, err)
	}
	for _, d := range dead {
		if d.ID == id && d.Stream == app.Stream {
			step.Outcome, step.At, step.Attempt, step.Error, step.DLQSeq = DeadLettered, d.FailedAt, d.Attempts, d.Error, d.Seq
			step.After = d.FailedAt.Sub(j.Committed.At)
			return step, nil
		}
	}
	if part != nil && !slices.Contains(part.Consumers, name) {
		part = nil // another replica answered: its database says nothing of this one
	}
	switch {
	case part != nil && part.Applied != nil:
		step.Outcome, step.At = Applied, *part.Applied
	case ok != nil && ok.Attr(string(observe.AttrOutcome)) == observe.OutcomeDelivered:
		step.Outcome, step.At = Delivered, ok.End
	case ok != nil:
		step.Outcome, step.At = Applied, ok.End
	}
	if step.Outcome == Applied || step.Outcome == Delivered {
		step.After = step.At.Sub(j.Committed.At)
		step.Error = "" // an earlier attempt failed; this one did not
		return step, nil
	}
	st, err := src.Bus.ConsumerState(ctx, app.Stream, name)
	switch {
	case errors.Is(err, jetstream.ErrNoConsumer):
		step.Outcome, step.Note = NoConsumer, joinNote(step.Note, "the bus has no consumer "+name+": the service has never started")
		return step, nil
	case err != nil:
		step.Outcome, step.Note = Unknown, joinNote(step.Note, err.Error())
		return step, nil
	}
	step.AckFloor, step.Waiting = st.AckFloor, st.Pending
	switch {
	case st.AckFloor >= seq:
		// Settled, and not dead-lettered: applied, but the service that
		// could say when did not answer.
		step.Outcome, step.Note = Applied, joinNote(step.Note, "settled on the bus; "+svc.Name+" did not say when")
	case st.Delivered >= seq && step.Error != "":
		step.Outcome = Retrying
	case st.Delivered >= seq:
		step.Outcome = InProgress
	default:
		step.Outcome = Pending
		step.Note = joinNote(step.Note, fmt.Sprintf("the consumer has settled the stream up to %d; this event is at %d, with %d of its messages waiting", st.AckFloor, seq, st.Pending))
	}
	return step, nil
}

// ask fetches the part of the journey of every service of apps with q,
// noting in j the services that did not answer.
func (src Sources) ask(ctx context.Context, j *Journey, q url.Values, apps catalogue.Catalogue) map[string]*service.Journey {
	parts := map[string]*service.Journey{}
	if src.Service == nil {
		return parts
	}
	for _, a := range apps {
		for _, s := range a.Services {
			p, err := src.Service(ctx, s.Name, q)
			if err != nil {
				j.Unreachable = append(j.Unreachable, s.Name)
				continue
			}
			parts[s.Name] = &p
		}
	}
	return parts
}

// spansOf merges the services' spans, oldest first, each once.
func spansOf(parts map[string]*service.Journey) []observe.Span {
	out := []observe.Span{}
	seen := map[string]bool{}
	for _, p := range parts {
		for _, s := range p.Spans {
			if !seen[s.SpanID] {
				seen[s.SpanID] = true
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b observe.Span) int { return a.Start.Compare(b.Start) })
	return out
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
