package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Payload is implemented by every typed event's data struct.
type Payload interface {
	// Validate reports what is wrong with a decoded payload, or nil.
	Validate() error
}

// ErrUnknownType is wrapped by Registry.Validate for an unregistered type.
var ErrUnknownType = errors.New("unknown event type")

// ErrInvalidData is wrapped by Decode and Registry.Validate when an event's data
// does not decode into its type or breaks the type's rules.
var ErrInvalidData = errors.New("invalid event data")

// Def defines one event type: its stable name, the Go type its data decodes
// into, and what it records. Its owner declares it (see package catalogue);
// consumers name the same Def. Build one with Define, or, for a version
// superseded by a newer one, with DefineUpcast. A Def is a value: copy it
// freely.
type Def struct {
	// Type is the CloudEvents type, e.g. "shop.user.created.v1".
	Type string
	// Doc says, in a sentence, what the event records.
	Doc string
	// Payload is the Go type of the event's data (a struct implementing
	// Payload); JSON Schemas are generated from it.
	Payload reflect.Type

	decode func(Envelope) (Payload, error)
	up     *upcaster // nil unless the type is read as a newer one
}

// upcaster reads the events of one type as events of a newer type.
type upcaster struct {
	to      Def                            // the type read as, with its own upcaster if it has one
	convert func(Payload) (Payload, error) // from the older payload to a validated newer one
	problem error                          // why the declaration cannot work, or nil
}

// Define returns the Def of event type typ, whose data decodes into P.
func Define[P Payload](typ, doc string) Def {
	return Def{Type: typ, Doc: doc, Payload: reflect.TypeFor[P](),
		decode: func(e Envelope) (Payload, error) { return Decode[P](e) }}
}

// DefineUpcast returns the Def of event type typ, whose data decodes into
// P, and which is read as the newer type to: Registry.Checked decodes and
// validates a stored event of type typ as P, converts its data with up,
// validates the result by to's rules, and returns the event as one of type
// to (see Checked for what changes and what is kept). If to is itself read
// as a newer type, the upcasts compose: v1 → v2 → v3.
//
// Declare the older Def beside the newer one it is read as, in the owner's
// package (or in this one, for shared types); the owner keeps both among
// the types it owns, so that consumers may still subscribe to what is
// stored, but emits only the newest. up must not fail: it fills in what the
// older version did not record, and its doc comment says with what.
//
// Q must be to's payload type; if it is not, Problem says so (and
// catalogue.Check refuses the catalogue), and Checked refuses every event
// of type typ.
func DefineUpcast[P, Q Payload](typ, doc string, to Def, up func(P) Q) Def {
	d := Define[P](typ, doc)
	u := &upcaster{to: to, convert: func(p Payload) (Payload, error) {
		q := up(p.(P)) // p was decoded by d, as a P
		if err := q.Validate(); err != nil {
			return nil, err
		}
		return q, nil
	}}
	if want := reflect.TypeFor[Q](); to.Payload != want {
		u.problem = fmt.Errorf("event type %s is upcast to %s by a function returning %v, but %s's data is %v", typ, to.Type, want, to.Type, to.Payload)
	} else if to.Type == "" || to.decode == nil {
		u.problem = fmt.Errorf("event type %s is upcast to a type not built with Define", typ)
	}
	d.up = u
	return d
}

// Upcast returns the Def that events of type d are read as, one step on,
// and true; or false if d is read as itself.
func (d Def) Upcast() (Def, bool) {
	if d.up == nil {
		return Def{}, false
	}
	return d.up.to, true
}

// ReadAs returns the Def that events of type d are read as, after every
// upcast: d itself for a type without an upcaster, the newest version of
// its chain otherwise.
func (d Def) ReadAs() Def {
	for d.up != nil {
		d = d.up.to
	}
	return d
}

// Deprecated reports whether d is superseded: it has an upcaster, its
// owner no longer emits it, and stored events of it are read as ReadAs.
func (d Def) Deprecated() bool { return d.up != nil }

// Problem reports why d, built with DefineUpcast, cannot upcast (the
// function's result is not the newer type's payload), or nil.
func (d Def) Problem() error {
	for ; d.up != nil; d = d.up.to {
		if d.up.problem != nil {
			return d.up.problem
		}
	}
	return nil
}

// Subject is the NATS subject the event type travels on (see Subject).
func (d Def) Subject() string { return Subject(d.Type) }

// Version is the version of the event's schema (see Version).
func (d Def) Version() int { return Version(d.Type) }

// Subject returns the NATS subject an event type travels on. A type named
// "<app>.<entity>.<verb>.v<N>" travels on its name without the version
// ("shop.order.created.v1" → "shop.order.created"), so a consumer of a
// subject receives every version. A type without dots, the tutorial's naming
// ("PostCreated"), is a blog event and travels on BlogSubject's
// "blog.event.<type>". Any other type travels on its own name.
func Subject(typ string) string {
	if !strings.Contains(typ, ".") {
		return BlogSubject(typ)
	}
	if i := strings.LastIndex(typ, "."); i > 0 && strings.HasPrefix(typ[i+1:], "v") {
		return typ[:i]
	}
	return typ
}

// Version returns the schema version an event type names: N for a type
// ending in ".v<N>", 1 for a type without a version suffix (the tutorial's
// types are unversioned: their first and only version), and 0 for a type
// whose suffix is "v" followed by something other than a positive number.
func Version(typ string) int {
	i := strings.LastIndex(typ, ".")
	if i < 0 || !strings.HasPrefix(typ[i+1:], "v") {
		return 1
	}
	n, err := strconv.Atoi(typ[i+2:])
	if err != nil || n <= 0 || typ[i+2] < '1' || typ[i+2] > '9' {
		return 0
	}
	return n
}

// Registry knows the event types a system accepts. An event whose type is not
// registered, or whose data does not validate, must never be applied to a read
// model. A Registry is safe for concurrent use once built.
type Registry struct {
	defs map[string]Def
}

// NewRegistry returns a registry of defs. A type defined twice keeps its
// last Def.
func NewRegistry(defs ...Def) *Registry {
	r := &Registry{}
	r.Add(defs...)
	return r
}

// Add registers defs.
func (r *Registry) Add(defs ...Def) {
	if r.defs == nil {
		r.defs = map[string]Def{}
	}
	for _, d := range defs {
		r.defs[d.Type] = d
	}
}

// Def returns the Def of type typ, and whether it is registered.
func (r *Registry) Def(typ string) (Def, bool) {
	d, ok := r.defs[typ]
	return d, ok
}

// Defs returns every registered Def, sorted by type.
func (r *Registry) Defs() []Def {
	out := make([]Def, 0, len(r.defs))
	for _, d := range r.defs {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Def) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// Validate checks that e's type is registered and its data decodes and
// validates. Errors wrap ErrUnknownType or ErrInvalidData.
func (r *Registry) Validate(e Envelope) error {
	_, err := r.Checked(e)
	return err
}

// Checked is Validate that also returns e carrying its decoded data, so
// that Decode of it costs no second decoding, and upcast: every consumer
// sees one shape of an event, whichever version was stored.
//
// For a type declared with DefineUpcast, Checked decodes and validates the
// stored data as that type's payload, converts it with the upcaster (again
// and again along a chain, v1 → v2 → v3) and validates the result by the
// rules of the type it ends at. The envelope it returns has that newest
// type as its Type, and the newest payload both decoded (for Decode) and
// encoded as Data; its id, source, subject, time, entityversion and
// traceparent are the stored event's. Errors wrap ErrUnknownType or
// ErrInvalidData; an upcast whose result breaks the newer type's rules is
// ErrInvalidData, naming both types.
func (r *Registry) Checked(e Envelope) (Envelope, error) {
	d, ok := r.defs[e.Type]
	if !ok || d.decode == nil {
		return e, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	p, err := d.decode(e)
	if err != nil {
		return e, err
	}
	if d.up != nil {
		return upcast(e, d, p)
	}
	e.payload = p
	return e, nil
}

// upcast returns e, of type d and with data p decoded, read as the type at
// the end of d's chain of upcasters (see Checked).
func upcast(e Envelope, d Def, p Payload) (Envelope, error) {
	stored := e.Type
	for d.up != nil {
		if d.up.problem != nil {
			return e, fmt.Errorf("%w: %s: %v", ErrInvalidData, stored, d.up.problem)
		}
		q, err := d.up.convert(p)
		if err != nil {
			return e, fmt.Errorf("%w: %s upcast to %s: %v", ErrInvalidData, d.Type, d.up.to.Type, err)
		}
		d, p = d.up.to, q
	}
	data, err := json.Marshal(p)
	if err != nil {
		return e, fmt.Errorf("%w: %s upcast to %s: encode: %v", ErrInvalidData, stored, d.Type, err)
	}
	e.Type, e.Data, e.payload = d.Type, data, p
	return e, nil
}

// Decode decodes e's data into P, rejecting unknown fields and trailing data,
// and runs P's Validate. Errors wrap ErrInvalidData. For an envelope that
// Registry.Checked returned, it returns the data Checked decoded (and
// upcast). Decode itself never upcasts: a stored event of an older version
// decodes only into that version's payload.
func Decode[P Payload](e Envelope) (P, error) {
	if p, ok := e.payload.(P); ok {
		return p, nil
	}
	var p P
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrInvalidData, e.Type, err)
	}
	if dec.More() {
		return p, fmt.Errorf("%w: %s: trailing data", ErrInvalidData, e.Type)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %s: %v", ErrInvalidData, e.Type, err)
	}
	return p, nil
}
