package service

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/observe"
)

// UseTracing makes the service trace with tp: its HTTP requests, its
// relay's publishes (through the relay's own Tracer, which catalogue.Build
// sets) and every message its consumers handle. ring, if not nil, is where
// the process keeps its recent spans; the service serves its own from it
// at GET /journey. Without UseTracing the service traces nothing.
func (s *Service) UseTracing(tp trace.TracerProvider, ring *observe.Ring) {
	s.tp, s.tracer, s.ring = tp, tp.Tracer("github.com/heraldev/herald/service"), ring
}

// Tracer returns the service's tracer: a no-op one unless UseTracing.
func (s *Service) Tracer() trace.Tracer { return s.tracer }

// traced reports whether the service records spans.
func (s *Service) traced() bool {
	_, noopTP := s.tp.(noop.TracerProvider)
	return s.tp != nil && !noopTP
}

// traceHTTP wraps h in a server span per request: every write (any method
// but GET and HEAD), and any read whose caller sent a traceparent, so that
// a trace a client started continues here. Plain reads, the hot path, and
// the operator routes are not traced.
//
// It is not otelhttp: that wraps every request's body and writer and sets
// some fifteen attributes, and in herald bench journey cost about a tenth
// of orders' CPU; this keeps the attributes a trace is read by (method,
// route, path, status).
func (s *Service) traceHTTP(h http.Handler) http.Handler {
	if !s.traced() {
		return h
	}
	prop := observe.Propagator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tp := r.Header.Get(observe.HeaderTraceParent)
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (tp == "" || operatorPath(r.URL.Path)) {
			h.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		if tp != "" {
			ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path)))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		h.ServeHTTP(sw, r)
		if _, path, ok := strings.Cut(r.Pattern, " "); ok {
			span.SetName(r.Method + " " + path)
			span.SetAttributes(semconv.HTTPRoute(path))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
		span.End()
	})
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func operatorPath(p string) bool {
	switch p {
	case "/livez", "/readyz", "/metrics", "/status", "/journey":
		return true
	}
	return strings.HasPrefix(p, "/debug/")
}

// outcomeKey holds, in a handler's context, where ApplyBatch says which of
// the messages it was given it applied and which it skipped as duplicates.
type outcomeKey struct{}

type outcomes struct {
	applied []bool
	ids     []string // the events' ids, which a republished copy's message id may not be
}

// settle names on span the event that message i of a handled batch was
// (a republished copy's message id may not be its id) and returns the
// message's outcome: ok, or duplicate if the handler skipped it.
func (o *outcomes) settle(span trace.Span, i int, m bus.Message, ok string) string {
	if i < len(o.ids) && o.ids[i] != m.ID {
		span.SetAttributes(observe.AttrMessageID.String(o.ids[i]))
	}
	if i < len(o.applied) && !o.applied[i] {
		return observe.OutcomeDuplicate
	}
	return ok
}

// noteApplied records, for the process spans, the events' ids and which of
// them were applied.
func noteApplied(ctx context.Context, ids []string, applied []bool) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcomes); ok {
		o.ids, o.applied = ids, applied
	}
}

// TraceHandler wraps consumer c's handler h so that every message it
// handles is a consumer span, "process <subject>", in the trace of the
// message's publish (its parent, and a link to it, as OpenTelemetry's
// messaging conventions ask), with the outcome: ok on success (applied or
// duplicate for a handler built by Apply), retried or dead-lettered on
// failure. A failure is logged with the span's trace id. The gateway wraps
// its push deliveries with ok = observe.OutcomeDelivered.
func (s *Service) TraceHandler(c bus.Consumer, h bus.Handler, ok string) bus.Handler {
	if !s.traced() {
		return func(ctx context.Context, m bus.Message) error {
			err := h(ctx, m)
			if err != nil {
				s.logFailure(ctx, c, m, err)
			} else {
				s.failing.clear(c.Name)
			}
			return err
		}
	}
	return func(ctx context.Context, m bus.Message) error {
		ctx, span := s.startProcess(ctx, c, m, time.Time{})
		o := &outcomes{}
		err := h(context.WithValue(ctx, outcomeKey{}, o), m)
		if err == nil {
			s.failing.clear(c.Name)
		}
		s.endProcess(ctx, span, c, m, o.settle(span, 0, m, ok), err)
		return err
	}
}

// traceBatch is TraceHandler for a batch handler: one span per message of
// a batch that succeeded, all starting when the batch did. A failed batch
// records none: its messages are handled, and traced, one by one next.
func (s *Service) traceBatch(c bus.Consumer, h bus.BatchHandler) bus.BatchHandler {
	if !s.traced() {
		return h
	}
	return func(ctx context.Context, ms []bus.Message) error {
		start := time.Now()
		o := &outcomes{}
		if err := h(context.WithValue(ctx, outcomeKey{}, o), ms); err != nil {
			return err
		}
		for i, m := range ms {
			sctx, span := s.startProcess(ctx, c, m, start)
			s.endProcess(sctx, span, c, m, o.settle(span, i, m, observe.OutcomeApplied), nil)
		}
		return nil
	}
}

func (s *Service) startProcess(ctx context.Context, c bus.Consumer, m bus.Message, start time.Time) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(observe.ProcessAttrs(c.Name, c.Stream, m.Subject, m.ID, m.Sequence, m.Attempt)...)}
	if !start.IsZero() {
		opts = append(opts, trace.WithTimestamp(start))
	}
	if sc := observe.Remote(m.TraceParent); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return s.tracer.Start(ctx, "process "+m.Subject, opts...)
}

func (s *Service) endProcess(ctx context.Context, span trace.Span, c bus.Consumer, m bus.Message, outcome string, err error) {
	if err != nil {
		outcome = s.logFailure(ctx, c, m, err)
	}
	span.SetAttributes(observe.AttrOutcome.String(outcome))
	observe.End(span, err)
}

// logFailure logs that consumer c failed to handle m, with ctx's trace,
// records it for GET /status, and returns the outcome: retried, or
// dead-lettered after the last attempt.
func (s *Service) logFailure(ctx context.Context, c bus.Consumer, m bus.Message, err error) string {
	s.failing.fail(c, m, err, time.Now())
	outcome, level, msg := observe.OutcomeRetried, slog.LevelWarn, "handler failed; will retry"
	if a := m.Attempt; a > 0 && a&(a-1) != 0 {
		// Attempts 1, 2, 4, 8, ... warn; the others are debug lines: a push
		// subscriber down for its 40 minutes of retries logs 4 warnings, not
		// 15, and GET /status and herald trace show the attempts meanwhile.
		level = slog.LevelDebug
	}
	if c.LastAttempt(m.Attempt) {
		outcome, level, msg = observe.OutcomeDeadLettered, slog.LevelError, "handler failed its last attempt; dead-lettering"
	}
	s.Log.Log(ctx, level, msg, "consumer", c.Name, "subject", m.Subject, "seq", m.Sequence, "event", m.ID,
		"attempt", m.Attempt, "of", c.WithDefaults().MaxDeliver, "err", err)
	return outcome
}
