package observe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultRingSize is how many spans a Tracing keeps in memory by default.
const DefaultRingSize = 10_000

// Options configures a process's tracing.
type Options struct {
	// RingSize is how many of the most recent spans are kept in memory, for
	// `herald trace` and the dashboard. 0 means DefaultRingSize; negative
	// keeps none. Memory stays bounded whatever the load: at most RingSize
	// spans of at most MaxSpanBytes each.
	RingSize int
	// OTLPEndpoint, if set, exports every span over OTLP/HTTP to this URL
	// (e.g. http://127.0.0.1:4318, Jaeger's or a collector's; the path
	// defaults to /v1/traces). Empty falls back to the standard variables
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_ENDPOINT;
	// with none of them set, spans are not exported.
	OTLPEndpoint string
}

// Tracing is a process's tracing: one TracerProvider per service (so that
// each span names its service in the resource, as Jaeger and Tempo expect),
// all feeding one Ring and, if configured, one OTLP exporter. A nil
// *Tracing is tracing turned off: its providers are no-ops. It is safe for
// concurrent use.
type Tracing struct {
	ring     *Ring
	exporter sdktrace.SpanExporter // nil without OTLP
	endpoint string

	mu        sync.Mutex
	providers map[string]*sdktrace.TracerProvider
	closed    bool
}

// New returns a process's tracing with opts. It fails only on an OTLP
// endpoint it cannot use.
func New(ctx context.Context, opts Options) (*Tracing, error) {
	t := &Tracing{providers: map[string]*sdktrace.TracerProvider{}}
	size := opts.RingSize
	if size == 0 {
		size = DefaultRingSize
	}
	if size > 0 {
		t.ring = NewRing(size)
	}
	endpoint := opts.OTLPEndpoint
	if endpoint == "" {
		endpoint = cmpEnv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	if endpoint != "" {
		var eopts []otlptracehttp.Option
		if opts.OTLPEndpoint != "" {
			u, err := url.Parse(opts.OTLPEndpoint)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("otlp endpoint %q: want an http:// or https:// URL, such as http://127.0.0.1:4318", opts.OTLPEndpoint)
			}
			if u.Path == "" || u.Path == "/" {
				u.Path = "/v1/traces" // as OTEL_EXPORTER_OTLP_ENDPOINT does
			}
			endpoint = u.String()
			eopts = append(eopts, otlptracehttp.WithEndpointURL(endpoint))
		}
		exp, err := otlptracehttp.New(ctx, eopts...) // the variables are read by the exporter itself
		if err != nil {
			return nil, fmt.Errorf("otlp exporter for %s: %w", endpoint, err)
		}
		t.exporter, t.endpoint = exp, endpoint
	}
	return t, nil
}

func cmpEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// spanLimits bound what one span holds, so that the ring's memory is
// bounded too (see MaxSpanBytes).
var spanLimits = sdktrace.SpanLimits{
	AttributeValueLengthLimit:   maxValue,
	AttributeCountLimit:         maxAttrs,
	EventCountLimit:             4,
	LinkCountLimit:              4,
	AttributePerEventCountLimit: 4,
	AttributePerLinkCountLimit:  4,
}

// Provider returns the TracerProvider of the service called name (one per
// name, made on first use), whose spans carry service.name and, if app is
// set, service.namespace. On a nil or shut-down Tracing it returns a no-op
// provider.
func (t *Tracing) Provider(app, name string) trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return noop.NewTracerProvider()
	}
	if p, ok := t.providers[name]; ok {
		return p
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(name)}
	if app != "" {
		attrs = append(attrs, semconv.ServiceNamespace(app))
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithRawSpanLimits(spanLimits),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	}
	if t.ring != nil {
		opts = append(opts, sdktrace.WithSpanProcessor(t.ring))
	}
	if t.exporter != nil {
		opts = append(opts, sdktrace.WithBatcher(sharedExporter{t.exporter}))
	}
	p := sdktrace.NewTracerProvider(opts...)
	t.providers[name] = p
	return p
}

// Ring returns the ring of recent spans, nil if none is kept (or t is nil).
func (t *Tracing) Ring() *Ring {
	if t == nil {
		return nil
	}
	return t.ring
}

// Exporting returns the OTLP endpoint spans are exported to, "" if none.
func (t *Tracing) Exporting() string {
	if t == nil {
		return ""
	}
	return t.endpoint
}

// Shutdown ends every provider, exporting the spans still buffered, and
// closes the exporter. Providers asked for afterwards are no-ops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	t.closed = true
	ps := t.providers
	t.providers = map[string]*sdktrace.TracerProvider{}
	t.mu.Unlock()
	var errs []error
	for name, p := range ps {
		if err := p.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop tracing of %s: %w", name, err))
		}
	}
	if t.exporter != nil {
		if err := t.exporter.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop otlp exporter: %w", err))
		}
	}
	return errors.Join(errs...)
}

// sharedExporter is the one exporter behind every provider's batcher; a
// provider's shutdown must not close it for the others (Tracing.Shutdown
// does, last).
type sharedExporter struct{ sdktrace.SpanExporter }

func (sharedExporter) Shutdown(context.Context) error { return nil }

// LogErrors sends OpenTelemetry's own errors (a collector that cannot be
// reached, say) to log: the first at once, then at most one a minute, each
// saying how many it stands for. OpenTelemetry's default prints every one
// to stderr, every few seconds per service while a collector is down.
func LogErrors(log *slog.Logger) {
	var mu sync.Mutex
	var last time.Time
	skipped := 0
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < time.Minute {
			skipped++
			return
		}
		log.Warn("tracing: cannot export spans (the in-memory ring still has them)", "err", err, "since_last", skipped)
		last, skipped = time.Now(), 0
	}))
}
