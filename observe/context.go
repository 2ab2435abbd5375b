package observe

import (
	"context"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceParent is the W3C trace context header, and the CloudEvents
// extension attribute that carries it inside an event.
const HeaderTraceParent = "traceparent"

var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of the span in ctx, "" if ctx
// holds none. (It is what propagation.TraceContext injects, without the
// carrier map: the relay and every write make one.)
func TraceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}

// Remote returns the span context a traceparent names; it is not valid if
// traceparent is empty or malformed.
func Remote(traceparent string) trace.SpanContext {
	// version 00: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
	if len(traceparent) == 55 && strings.HasPrefix(traceparent, "00-") && traceparent[35] == '-' && traceparent[52] == '-' {
		tid, err1 := trace.TraceIDFromHex(traceparent[3:35])
		sid, err2 := trace.SpanIDFromHex(traceparent[36:52])
		flags, err3 := hex.DecodeString(traceparent[53:])
		if err1 == nil && err2 == nil && err3 == nil {
			return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, Remote: true})
		}
		return trace.SpanContext{}
	}
	if traceparent == "" {
		return trace.SpanContext{}
	}
	// Another version, or upper case: as the propagator reads it.
	ctx := traceContext.Extract(context.Background(), propagation.MapCarrier{HeaderTraceParent: traceparent})
	return trace.SpanContextFromContext(ctx)
}

// WithRemote returns ctx with the span context traceparent names as its
// remote parent; ctx unchanged if traceparent is empty or malformed.
func WithRemote(ctx context.Context, traceparent string) context.Context {
	sc := Remote(traceparent)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// Propagator is the propagator Herald uses on HTTP: W3C trace context.
func Propagator() propagation.TextMapPropagator { return traceContext }
