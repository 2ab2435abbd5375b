package observe

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Bounds of one span kept in a Ring.
const (
	maxAttrs = 16  // attributes per span
	maxValue = 256 // bytes of an attribute value, or of the status message
	maxLinks = 4
	// MaxSpanBytes bounds the memory one span of a Ring holds.
	MaxSpanBytes = 512 + maxAttrs*(64+maxValue) + maxLinks*64 + maxValue
)

// Span is one finished span, as a Ring keeps it.
type Span struct {
	TraceID  string            `json:"traceId"`
	SpanID   string            `json:"spanId"`
	ParentID string            `json:"parentId,omitempty"`
	Service  string            `json:"service"`
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Start    time.Time         `json:"start"`
	End      time.Time         `json:"end"`
	Error    string            `json:"error,omitempty"` // set if the span's status is an error
	Attrs    map[string]string `json:"attrs,omitempty"`
	Links    []string          `json:"links,omitempty"` // "traceid-spanid" of each linked span
}

// Attr returns the span's attribute key, "" if it has none.
func (s Span) Attr(key string) string { return s.Attrs[key] }

// Ring keeps the most recent finished spans of every provider it is
// registered with, in a fixed number of slots: a new span overwrites the
// oldest. It is an sdktrace.SpanProcessor, and safe for concurrent use.
type Ring struct {
	mu    sync.Mutex
	slots []slot
	next  int  // slot the next span goes to
	full  bool // every slot has been written
}

// slot is a span as kept: its attributes as the SDK gave them (already a
// copy, bounded by the span limits), made into Span.Attrs only when read,
// so that recording a span costs no map.
type slot struct {
	traceID            trace.TraceID
	spanID, parentID   trace.SpanID
	service, name, err string
	kind               trace.SpanKind
	start, end         time.Time
	attrs              []attribute.KeyValue
	links              []sdktrace.Link
}

var _ sdktrace.SpanProcessor = (*Ring)(nil)

// NewRing returns a ring of size slots (at least 1).
func NewRing(size int) *Ring { return &Ring{slots: make([]slot, max(size, 1))} }

// Size returns how many spans the ring holds at most.
func (r *Ring) Size() int { return len(r.slots) }

// OnStart implements sdktrace.SpanProcessor; it does nothing.
func (r *Ring) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd implements sdktrace.SpanProcessor: it keeps a copy of s, within the
// ring's bounds.
func (r *Ring) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	sl := slot{
		traceID: s.SpanContext().TraceID(), spanID: s.SpanContext().SpanID(), parentID: s.Parent().SpanID(),
		name: s.Name(), kind: s.SpanKind(), start: s.StartTime(), end: s.EndTime(),
	}
	if v, ok := s.Resource().Set().Value(semconv.ServiceNameKey); ok {
		sl.service = v.AsString()
	}
	if st := s.Status(); st.Code == codes.Error {
		sl.err = clip(st.Description)
		if sl.err == "" {
			sl.err = "error"
		}
	}
	attrs := s.Attributes() // copies, as Links does
	sl.attrs = attrs[:min(len(attrs), maxAttrs)]
	if links := s.Links(); len(links) > 0 {
		sl.links = links[:min(len(links), maxLinks)]
	}
	r.mu.Lock()
	r.slots[r.next] = sl
	r.next++
	if r.next == len(r.slots) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func valueString(v attribute.Value) string {
	if v.Type() == attribute.STRING {
		return v.AsString()
	}
	return v.Emit()
}

func clip(s string) string {
	if len(s) <= maxValue {
		return s
	}
	return s[:maxValue]
}

// Shutdown implements sdktrace.SpanProcessor; the ring keeps its spans.
func (r *Ring) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor; there is nothing to flush.
func (r *Ring) ForceFlush(context.Context) error { return nil }

// Find returns the spans that match, oldest first. It copies what it
// returns; callers may keep it.
func (r *Ring) Find(match func(Span) bool) []Span {
	return r.find(func(slot) bool { return true }, match)
}

// Of returns the spans of service that belong to trace id traceID or are
// about event eventID (either may be empty), oldest first.
func (r *Ring) Of(service, traceID, eventID string) []Span {
	tid, _ := trace.TraceIDFromHex(traceID) // invalid for "" or garbage: matches no span
	return r.find(func(s slot) bool {
		if s.service != service {
			return false
		}
		if tid.IsValid() && s.traceID == tid {
			return true
		}
		return eventID != "" && s.attr(semconv.MessagingMessageIDKey) == eventID
	}, func(Span) bool { return true })
}

// attr returns the slot's attribute key, "" if it has none.
func (s slot) attr(key attribute.Key) string {
	for _, kv := range s.attrs {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// find returns the spans whose slot passes pre and which then match.
func (r *Ring) find(pre func(slot) bool, match func(Span) bool) []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Span
	n := r.next
	if r.full {
		n = len(r.slots)
	}
	for i := range n {
		j := i
		if r.full {
			j = (r.next + i) % len(r.slots)
		}
		if r.slots[j].end.IsZero() || !pre(r.slots[j]) {
			continue
		}
		if s := r.slots[j].spanOf(); match(s) { // spanOf makes a new Span: callers may keep it
			out = append(out, s)
		}
	}
	return out
}

// spanOf returns the slot's span.
func (s slot) spanOf() Span {
	sp := Span{TraceID: s.traceID.String(), SpanID: s.spanID.String(), Service: s.service, Name: s.name,
		Kind: s.kind.String(), Start: s.start, End: s.end, Error: s.err}
	if s.parentID.IsValid() {
		sp.ParentID = s.parentID.String()
	}
	if len(s.attrs) > 0 {
		sp.Attrs = make(map[string]string, len(s.attrs))
		for _, kv := range s.attrs {
			sp.Attrs[string(kv.Key)] = clip(valueString(kv.Value))
		}
	}
	for _, l := range s.links {
		sp.Links = append(sp.Links, l.SpanContext.TraceID().String()+"-"+l.SpanContext.SpanID().String())
	}
	return sp
}

// Trace returns the spans of trace id (32 hex digits), oldest first.
func (r *Ring) Trace(id string) []Span {
	tid, err := trace.TraceIDFromHex(id)
	if err != nil {
		return nil
	}
	return r.find(func(s slot) bool { return s.traceID == tid }, func(Span) bool { return true })
}

// Event returns the spans about the event with id (those whose
// messaging.message.id is id), oldest first.
func (r *Ring) Event(id string) []Span {
	return r.find(func(s slot) bool { return s.attr(semconv.MessagingMessageIDKey) == id }, func(Span) bool { return true })
}
