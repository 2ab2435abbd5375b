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
// consumers name the same Def. Build one with Define. A Def is a value: copy
// it freely.
type Def struct {
	// Type is the CloudEvents type, e.g. "shop.user.created.v1".
	Type string
	// Doc says, in a sentence, what the event records.
	Doc string
	// Payload is the Go type of the event's data (a struct implementing
	// Payload); JSON Schemas are generated from it.
	Payload reflect.Type

	decode func(Envelope) (Payload, error)
}

// Define returns the Def of event type typ, whose data decodes into P.
func Define[P Payload](typ, doc string) Def {
	return Def{Type: typ, Doc: doc, Payload: reflect.TypeFor[P](),
		decode: func(e Envelope) (Payload, error) { return Decode[P](e) }}
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
// that Decode of it costs no second decoding.
func (r *Registry) Checked(e Envelope) (Envelope, error) {
	d, ok := r.defs[e.Type]
	if !ok || d.decode == nil {
		return e, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	p, err := d.decode(e)
	if err != nil {
		return e, err
	}
	e.payload = p
	return e, nil
}

// Decode decodes e's data into P, rejecting unknown fields and trailing data,
// and runs P's Validate. Errors wrap ErrInvalidData. For an envelope that
// Registry.Checked returned, it returns the data Checked decoded.
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
