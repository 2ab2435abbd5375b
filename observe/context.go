package observe

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HeaderTraceParent is the W3C trace context header, and the CloudEvents
// extension attribute that carries it inside an event.
const HeaderTraceParent = "traceparent"

var traceContext = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of the span in ctx, "" if ctx
// holds none.
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c[HeaderTraceParent]
}

// Remote returns the span context a traceparent names; it is not valid if
// traceparent is empty or malformed.
func Remote(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
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
