package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// Registry knows the event types a system accepts. An event whose type is not
// registered, or whose data does not validate, must never be applied to a read
// model. A Registry is safe for concurrent use once built.
type Registry struct {
	validators map[string]func(Envelope) (Payload, error)
}

// Register adds type typ, whose data decodes into P.
func Register[P Payload](r *Registry, typ string) {
	if r.validators == nil {
		r.validators = map[string]func(Envelope) (Payload, error){}
	}
	r.validators[typ] = func(e Envelope) (Payload, error) { return Decode[P](e) }
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
	v, ok := r.validators[e.Type]
	if !ok {
		return e, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	p, err := v(e)
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
