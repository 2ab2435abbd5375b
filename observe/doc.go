// Package observe is how Herald follows its events: OpenTelemetry tracing
// (one TracerProvider per service, OTLP export by flag, and a bounded
// in-memory ring of the most recent spans for `herald trace` and the
// dashboard), W3C trace context to and from an event, and a slog handler
// that writes the trace and span ids of the context into every log line.
//
// It imports no service: services and the binary use it.
package observe
