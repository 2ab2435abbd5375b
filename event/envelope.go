// Package event defines Herald's event envelope (CloudEvents 1.0, structured
// JSON mode) and the typed events the shop services exchange.
//
// It imports only the standard library: services depend on it, never the
// other way round.
package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version Herald writes and accepts.
const SpecVersion = "1.0"

// MaxSize is the largest encoded event Herald accepts, in bytes.
const MaxSize = 1 << 20

// Envelope is a CloudEvents 1.0 event in structured JSON mode. Data holds the
// event's payload as raw JSON; use Decode and the typed structs in this package
// to read it.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`

	// EntityVersion is the version of the entity after the change the event
	// records, starting at 1. Projections use it to ignore stale events.
	EntityVersion int64 `json:"entityversion"`
	// TraceParent is the W3C trace context of the request that caused the event.
	TraceParent string `json:"traceparent,omitempty"`

	// payload is Data decoded, once Registry.Checked has validated it, so
	// that Decode does not decode it again.
	payload Payload
}

// New returns an envelope for data of the given type, with a fresh UUIDv7 id
// and the current time. It fails only if data cannot be encoded as JSON.
func New(source, typ, subject string, version int64, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s data: %w", typ, err)
	}
	return Envelope{
		SpecVersion:     SpecVersion,
		ID:              NewID(),
		Source:          source,
		Type:            typ,
		Subject:         subject,
		Time:            time.Now().UTC().Truncate(time.Microsecond),
		DataContentType: "application/json",
		Data:            raw,
		EntityVersion:   version,
	}, nil
}

// Encode returns the envelope as CloudEvents structured JSON.
func (e Envelope) Encode() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return b, nil
}

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed event")

// Parse decodes structured CloudEvents JSON and checks the required context
// attributes. It does not look at the data; see Registry.Validate for that.
// Every error it returns wraps ErrMalformed.
func Parse(b []byte) (Envelope, error) {
	if len(b) > MaxSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes is over the %d byte limit", ErrMalformed, len(b), MaxSize)
	}
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil { // which also refuses trailing data
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := e.check(); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return e, nil
}

func (e Envelope) check() error {
	var missing []string
	for _, a := range []struct{ name, value string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type},
	} {
		if strings.TrimSpace(a.value) == "" {
			missing = append(missing, a.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required attribute(s) %s", strings.Join(missing, ", "))
	}
	if e.SpecVersion != SpecVersion {
		return fmt.Errorf("specversion %q is not %q", e.SpecVersion, SpecVersion)
	}
	if e.EntityVersion < 0 {
		return fmt.Errorf("entityversion %d is negative", e.EntityVersion)
	}
	return nil
}
