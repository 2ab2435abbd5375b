// Package dlq chooses and performs safe redrives of dead letters, the same
// way for `herald dlq redrive` and for the dashboard: which dead letters a
// selection names, which of them to give back to their consumer and which
// to leave because the consumer's service has applied the event since,
// and the redrives themselves, at a bounded rate, optionally through a
// transform of the event (an upcaster).
//
// Like package journey it reads the bus and asks the running services
// (their GET /journey); cmd/herald and dashboard import it, it imports
// neither.
package dlq

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
)

// Filter names dead letters: by position (Seqs), or every one (All), in
// either case narrowed by the other fields, which alone also select (every
// dead letter that matches them). The zero Filter names nothing.
type Filter struct {
	Seqs     []uint64 `json:"seqs,omitempty"` // positions in the DLQ
	All      bool     `json:"all,omitempty"`
	Type     string   `json:"type,omitempty"`     // the event's CloudEvent type
	Consumer string   `json:"consumer,omitempty"` // the durable consumer that failed it
	// Since and Until bound when the consumer gave up on the event (its
	// failed-at), inclusive; zero is unbounded.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// ErrNothingNamed is returned by Check for a Filter that names no dead
// letter, so that an action never runs on every dead letter by accident.
var ErrNothingNamed = errors.New("name the dead letters: by position (see herald dlq list), all of them, or by a filter (type, consumer, since, until)")

// Check returns an error, for a person, if f is not a selection: nothing
// named (wrapping ErrNothingNamed), positions and all at once, a zero
// position, or Since after Until.
func (f Filter) Check() error {
	switch {
	case f.All && len(f.Seqs) > 0:
		return errors.New("give positions or all, not both")
	case !f.All && len(f.Seqs) == 0 && !f.Narrows():
		return ErrNothingNamed
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Since.After(f.Until):
		return fmt.Errorf("since (%s) is after until (%s): no dead letter can match", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	for _, s := range f.Seqs {
		if s == 0 {
			return errors.New("positions in the DLQ start at 1; 0 is none")
		}
	}
	return nil
}

// Narrows reports whether f has a filter besides positions and all.
func (f Filter) Narrows() bool {
	return f.Type != "" || f.Consumer != "" || !f.Since.IsZero() || !f.Until.IsZero()
}

// Match reports whether d passes f's filters (not its positions). A dead
// letter whose failed-at is unknown matches no time bound; one whose data
// is not a CloudEvent matches no type.
func (f Filter) Match(d bus.DeadLetter) bool {
	if f.Consumer != "" && d.Consumer != f.Consumer {
		return false
	}
	if f.Type != "" && EventOf(d).Type != f.Type {
		return false
	}
	if !f.Since.IsZero() && (d.FailedAt.IsZero() || d.FailedAt.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (d.FailedAt.IsZero() || d.FailedAt.After(f.Until)) {
		return false
	}
	return true
}

// Event is what a dead letter's event says of itself.
type Event struct {
	ID   string // the event's id (what consumers record), else the message id
	Type string // its CloudEvent type; "" if the data is not a CloudEvent
}

// EventOf returns the id and type of d's event.
func EventOf(d bus.DeadLetter) Event {
	var ce struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(d.Data, &ce) // not JSON: no type
	return Event{ID: jetstream.EventID(d.ID, d.Data), Type: ce.Type}
}

// ParseTime reads s as a time for Since or Until: an RFC 3339 time
// ("2025-06-01T12:00:00Z"), or a duration before now ("2h", "30m": that
// long ago). "" is the zero time, which bounds nothing.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration means that long ago; give it without a sign", s)
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a time (RFC 3339, e.g. 2025-06-01T12:00:00Z) nor a duration ago (e.g. 2h, 30m)", s)
}
