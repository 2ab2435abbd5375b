package observe_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldev/herald/observe"
)

func TestRingKeepsTheNewestSpansWithinItsSize(t *testing.T) {
	tr, err := observe.New(context.Background(), observe.Options{RingSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	tracer := tr.Provider("shop", "orders").Tracer("test")
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		_, span := tracer.Start(context.Background(), name)
		span.End()
	}
	var names []string
	for _, s := range tr.Ring().Find(func(observe.Span) bool { return true }) {
		names = append(names, s.Name)
		if s.Service != "orders" {
			t.Errorf("span %s service = %q, want orders", s.Name, s.Service)
		}
	}
	if got := strings.Join(names, ","); got != "c,d,e" {
		t.Fatalf("ring holds %s, want the three newest c,d,e oldest first", got)
	}
}

func TestRingBoundsWhatOneSpanHolds(t *testing.T) {
	tr, err := observe.New(context.Background(), observe.Options{RingSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	tracer := tr.Provider("", "query").Tracer("test")
	_, span := tracer.Start(context.Background(), "big")
	for i := range 100 {
		span.SetAttributes(attribute.String(strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i), strings.Repeat("v", 10_000)))
	}
	span.SetStatus(codes.Error, strings.Repeat("e", 10_000))
	span.End()
	spans := tr.Ring().Find(func(observe.Span) bool { return true })
	if len(spans) != 1 {
		t.Fatalf("ring holds %d spans, want 1", len(spans))
	}
	s := spans[0]
	size := len(s.Error)
	for k, v := range s.Attrs {
		size += len(k) + len(v)
	}
	if len(s.Attrs) > 16 || len(s.Error) > 256 || size > observe.MaxSpanBytes {
		t.Fatalf("span keeps %d attributes, %d bytes of error, %d bytes in all; want at most 16, 256 and %d",
			len(s.Attrs), len(s.Error), size, observe.MaxSpanBytes)
	}
}

func TestTraceParentRoundTripsThroughRemote(t *testing.T) {
	tr, err := observe.New(context.Background(), observe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	ctx, span := tr.Provider("", "orders").Tracer("test").Start(context.Background(), "write")
	tp := observe.TraceParent(ctx)
	span.End()
	sc := observe.Remote(tp)
	if !sc.IsValid() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("Remote(%q) = %v, want the span's own context %v", tp, sc, span.SpanContext())
	}
	if observe.TraceParent(context.Background()) != "" || observe.Remote("garbage").IsValid() {
		t.Fatal("a context without a span or a malformed traceparent must give nothing")
	}
	if got := tr.Ring().Trace(sc.TraceID().String()); len(got) != 1 || got[0].Name != "write" {
		t.Fatalf("Ring.Trace = %+v, want the one span", got)
	}
}

func TestTraceParentIsWhatTheW3CPropagatorReadsAndWrites(t *testing.T) {
	prop := observe.Propagator()
	for _, tp := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"garbage",
	} {
		want := trace.SpanContextFromContext(prop.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp}))
		if got := observe.Remote(tp); !got.Equal(want) {
			t.Errorf("Remote(%q) = %v, want the propagator's %v", tp, got, want)
		}
		if !want.IsValid() {
			continue
		}
		c := propagation.MapCarrier{}
		prop.Inject(trace.ContextWithRemoteSpanContext(context.Background(), want), c)
		if got := observe.TraceParent(trace.ContextWithRemoteSpanContext(context.Background(), want)); got != c["traceparent"] {
			t.Errorf("TraceParent = %q, want the propagator's %q", got, c["traceparent"])
		}
	}
}
