// Package service runs one Herald service as a module: its HTTP server, its
// durable consumers and its outbox relay, started in order and stopped in
// reverse. `herald up` runs several in one process; `herald serve` runs the
// named ones. Both use exactly this code.
package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/cors"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Consumer is a durable subscription a service runs, with its handler.
type Consumer struct {
	bus.Consumer
	Handler bus.Handler
}

// Service is one service's module. Build it with New, fill in DB, Relay and
// Consumers and register routes on Mux, then Listen, Start and finally Stop.
type Service struct {
	Name     string
	App      string // the app it belongs to, for /status
	Store    string // its database, for a person (store.Describe)
	Addr     string // listen address, "host:port"
	AddrFlag string // the flag that sets Addr, named when it cannot be used
	Log      *slog.Logger
	Mux      *http.ServeMux
	Metrics  *prometheus.Registry // this service's own registry, served at /metrics

	// ProgressEvery is how often a consumer that is behind logs how far it
	// has to go. Default 5s.
	ProgressEvery time.Duration

	DB        *sql.DB       // closed by Stop
	Writes    *store.Group  // every write to DB goes through it (see UseDB)
	Relay     *outbox.Relay // nil for a service that publishes nothing
	Consumers []Consumer

	// CORS lets browser pages from any origin call the service's API (the
	// blog's browser client runs on another port). Off by default.
	CORS bool
	// Pprof serves Go's profiles (net/http/pprof) at /debug/pprof/ on the
	// service's address, for benchmarks and diagnosis. Off by default: a
	// profile exposes the process's internals to anyone who can reach it.
	Pprof bool
	// OnStart, if set, runs in Start once the consumers and the relay run,
	// before HTTP is served; an error fails Start. OnStop runs in Stop after
	// HTTP has stopped and before the consumers are drained. A service with
	// work of its own, like the gateway's push subscriptions, hooks it here.
	OnStart func(ctx context.Context, b bus.Bus) error
	OnStop  func(ctx context.Context) error
	// Generations, set for a read model by what runs it, switches its
	// copies for a blue/green rebuild (GET /generation, POST
	// /generation/pause, /resume, /switch); nil answers 404 there.
	Generations Generations
	// MoreConsumers, if set, returns the consumers the service runs besides
	// Consumers, started by its own work (the gateway's push
	// subscriptions), so that GET /status and GET /journey show them too.
	// It must be safe for concurrent use.
	MoreConsumers func() []bus.Consumer

	// Auth verifies the bearer tokens of requests (auth.Verifier.Middleware):
	// routes find the caller's claims with auth.FromContext, and the
	// operator routes (/status, /journey, /metrics, pprof) need the admin
	// role. nil turns authorization off: every request acts as an admin
	// (for tests and embedding; herald up and herald serve always set it).
	Auth *auth.Verifier
	// ForeignTokens, if set, reports the requests whose bearer tokens may
	// be a route's own rather than Herald's (the gateway's --gateway-token
	// on /events): a token of such a request that is not a JWT is left to
	// the route instead of refused.
	ForeignTokens func(r *http.Request) bool
	// Limits bound each client's requests; see Limits for the defaults
	// (which New sets).
	Limits Limits

	// MaxWait bounds how long a read carrying a consistency token waits
	// for the read model (HeaderWait asks for less). Default MaxWait.
	MaxWait time.Duration

	tp     trace.TracerProvider
	tracer trace.Tracer
	ring   *observe.Ring
	fresh  *freshness // nil for a service that consumes nothing
	bus    bus.Bus    // set by Start

	ln         net.Listener
	front      *front          // the listener's server; a handover passes it on
	gate       *gate           // this service's handler in front
	handedOver atomic.Bool     // front serves the next generation now
	consMu     sync.Mutex      // guards subs and lagGauges
	subs       []subscribed    // the consumers' running subscriptions; none while paused
	lagGauges  map[string]bool // consumers whose herald_consumer_lag is registered
	stopRelay  context.CancelFunc
	relayDone  chan struct{}
	ready      atomic.Bool
	handled    *prometheus.CounterVec
	lag        prometheus.Histogram
	duplicates atomic.Int64
	failing    failures
	stopOnce   sync.Once
	watchers   sync.WaitGroup
	quit       chan struct{}
}

// New returns a service named name with a fresh mux and metrics registry, and
// the /livez, /readyz, /status, /journey and /metrics routes. Its logger is
// log, adding the trace and span ids of the context a line is logged with.
func New(name string, log *slog.Logger) *Service {
	s := &Service{Name: name, Log: slog.New(observe.LogHandler(log.Handler())).With("service", name), Mux: http.NewServeMux(), Metrics: prometheus.NewRegistry(),
		ProgressEvery: 5 * time.Second, quit: make(chan struct{}),
		Limits: Limits{WriteRate: DefaultWriteRate, SignInRate: DefaultSignInRate}}
	s.UseTracing(noop.NewTracerProvider(), nil)
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.handled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_events_handled_total", Help: "Events handled by this service's consumers, by consumer and result (ok, error).",
	}, []string{"consumer", "result"})
	s.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "herald_event_lag_seconds",
		Help:    "From an event's creation (its CloudEvents time) until this service committed its effect: propagation lag.",
		Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .015, .02, .03, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	s.Metrics.MustRegister(s.lag)
	s.Metrics.MustRegister(s.handled, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "herald_events_duplicate_total", Help: "Redelivered or republished events that were recognised and not applied again.",
	}, func() float64 { return float64(s.duplicates.Load()) }))
	s.Mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	s.Mux.Handle("GET /status", operator(http.HandlerFunc(s.serveStatus)))
	s.Mux.Handle("GET /journey", operator(http.HandlerFunc(s.serveJourney)))
	s.Mux.Handle("GET /generation", operator(http.HandlerFunc(s.serveGeneration)))
	s.Mux.Handle("POST /generation/{action}", operator(http.HandlerFunc(s.serveGeneration)))
	s.Mux.Handle("GET /metrics", operator(promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})))
	return s
}

func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		httpapi.WriteProblem(w, http.StatusServiceUnavailable, s.Name+" is starting or stopping")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.PingContext(ctx); err != nil {
		httpapi.WriteProblem(w, http.StatusServiceUnavailable, s.Name+" cannot reach its database: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"status":"ready"}`)
}

// UseDB makes db the service's database, with the one store.Group all its
// writes go through, and returns that Group.
func (s *Service) UseDB(db *sql.DB) *store.Group {
	s.DB, s.Writes = db, store.NewGroup(db)
	return s.Writes
}

// Duplicates returns how many duplicate events this service's consumers
// recognised and did not apply again.
func (s *Service) Duplicates() int64 { return s.duplicates.Load() }

// Listen binds the service's address, so that every port problem shows up
// before anything starts. The error names the flag to change.
func (s *Service) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		hint := ""
		if s.AddrFlag != "" {
			hint = "; change " + s.AddrFlag
		}
		return fmt.Errorf("%s cannot listen on %s: %w%s", s.Name, s.Addr, unwrapOp(err), hint)
	}
	s.ln = ln
	return nil
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// URL returns the service's base URL; valid after Listen.
func (s *Service) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Start attaches the consumers to b, starts the outbox relay and serves HTTP.
// The service reports ready once all of that is done. On error, whatever was
// started is stopped again.
func (s *Service) Start(ctx context.Context, b bus.Bus) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	if s.Relay != nil {
		if err := registerAll(s.Metrics,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_outbox_published_total", Help: "Events the outbox relay published and the bus acknowledged."},
				func() float64 { return float64(s.Relay.Published()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_outbox_pending", Help: "Events waiting in the outbox."},
				func() float64 { n, _ := outbox.Pending(context.Background(), s.DB); return float64(n) }),
		); err != nil {
			s.closeListener()
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	s.bus = b
	if err := s.inspectMetrics(); err != nil {
		s.closeListener()
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	for _, c := range s.Consumers {
		if err := s.subscribe(ctx, b, c); err != nil {
			s.stopConsumers(ctx)
			s.closeListener()
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	if s.Relay != nil {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.stopRelay, s.relayDone = cancel, make(chan struct{})
		go func() {
			defer close(s.relayDone)
			_ = s.Relay.Run(rctx)
		}()
	}
	if s.OnStart != nil {
		if err := s.OnStart(ctx, b); err != nil {
			s.stopBackground(ctx)
			s.closeListener()
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	if s.Pprof {
		s.Mux.Handle("GET /debug/pprof/", operator(http.HandlerFunc(pprof.Index)))
		s.Mux.Handle("GET /debug/pprof/cmdline", operator(http.HandlerFunc(pprof.Cmdline)))
		s.Mux.Handle("GET /debug/pprof/profile", operator(http.HandlerFunc(pprof.Profile)))
		s.Mux.Handle("GET /debug/pprof/symbol", operator(http.HandlerFunc(pprof.Symbol)))
		s.Mux.Handle("GET /debug/pprof/trace", operator(http.HandlerFunc(pprof.Trace)))
	}
	h := httpapi.WithProblems(s.Mux)
	if s.fresh != nil {
		h = s.readYourWrites(h)
	}
	limited, err := s.limit(answerWrites(h))
	if err != nil {
		s.stopBackground(ctx)
		s.closeListener()
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	h = httpapi.Limits(s.traceHTTP(s.authenticate(limited)), s.Limits.LimitOptions)
	if s.CORS {
		h = cors.New(cors.Options{
			AllowedOrigins: []string{"*"},
			AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete},
			AllowedHeaders: []string{"*"},
			ExposedHeaders: []string{"Location", "Link", HeaderEventID, HeaderToken, HeaderConsistency, "Herald-Position", "Herald-Last-Position"},
			MaxAge:         600,
		}).Handler(h)
	}
	s.serve(h)
	s.ready.Store(true)
	s.Log.Info("started", "url", s.URL(), "consumers", len(s.Consumers), "relay", s.Relay != nil, "authorization", s.Auth != nil)
	return nil
}

// subscribe attaches c. A consumer this service's database has never been
// fed by starts from the stream's first event, so a new or emptied database
// rebuilds itself from history; instances sharing one database attach one
// at a time, and only the first resets the consumer (store.AttachConsumer).
func (s *Service) subscribe(ctx context.Context, b bus.Bus, c Consumer) error {
	var sub bus.Subscription
	err := store.AttachConsumer(ctx, s.DB, c.Name, func(fromStart bool) error {
		c.FromStart = fromStart
		var err error
		if c.Batch != nil {
			c.Batch = s.traceBatch(c.Consumer, s.countBatch(c.Name, c.Batch))
		}
		h := s.TraceHandler(c.Consumer, s.count(c.Name, c.Handler), observe.OutcomeApplied)
		if sub, err = b.Subscribe(ctx, c.Consumer, h); err != nil {
			return err
		}
		if fromStart {
			s.Log.Info("new database: consuming from the first event", "consumer", c.Name)
		}
		return nil
	})
	if err != nil {
		if sub != nil {
			_ = sub.Stop(ctx)
		}
		return err
	}
	s.consMu.Lock()
	defer s.consMu.Unlock()
	s.subs = append(s.subs, subscribed{c.Name, sub})
	if s.lagGauges == nil {
		s.lagGauges = map[string]bool{}
	}
	if s.lagGauges[c.Name] {
		// Resumed after a pause: the gauge asks whichever subscription runs.
	} else if err := registerAll(s.Metrics, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "herald_consumer_lag", Help: "Events the consumer has not yet acknowledged (-1 if the bus cannot say).", ConstLabels: prometheus.Labels{"consumer": c.Name},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		sub := s.subscription(c.Name)
		if sub == nil {
			return -1 // paused
		}
		lag, err := sub.Lag(ctx)
		if err != nil {
			return -1
		}
		return float64(lag)
	})); err != nil {
		return err
	} else {
		s.lagGauges[c.Name] = true
	}
	s.watchers.Add(1)
	go s.reportCatchUp(c.Name, sub)
	return nil
}

func registerAll(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}

// reportCatchUp logs, every ProgressEvery, how far behind the consumer is,
// until it has caught up once: replaying a long history shows its progress.
func (s *Service) reportCatchUp(name string, sub bus.Subscription) {
	defer s.watchers.Done()
	tick := time.NewTicker(s.ProgressEvery)
	defer tick.Stop()
	var last uint64
	started := time.Now()
	for first := true; ; first = false {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		lag, err := sub.Lag(ctx)
		cancel()
		switch {
		case err != nil:
			s.Log.Debug("cannot read consumer lag", "consumer", name, "err", err)
		case lag == 0:
			if !first {
				s.Log.Info("caught up", "consumer", name, "took", time.Since(started).Round(time.Millisecond))
			}
			return
		case first:
			s.Log.Info("catching up", "consumer", name, "behind", lag)
		default:
			rate := (float64(last) - float64(lag)) / s.ProgressEvery.Seconds()
			s.Log.Info("catching up", "consumer", name, "behind", lag, "events_per_sec", int(rate))
		}
		last = lag
		select {
		case <-s.quit:
			return
		case <-tick.C:
		}
	}
}

func (s *Service) count(consumer string, h bus.Handler) bus.Handler {
	ok, failed := s.handled.WithLabelValues(consumer, "ok"), s.handled.WithLabelValues(consumer, "error")
	return func(ctx context.Context, m bus.Message) error {
		err := h(ctx, m)
		if err != nil {
			failed.Inc()
		} else {
			ok.Inc()
		}
		return err
	}
}

func (s *Service) countBatch(consumer string, h bus.BatchHandler) bus.BatchHandler {
	ok := s.handled.WithLabelValues(consumer, "ok")
	return func(ctx context.Context, ms []bus.Message) error {
		err := h(ctx, ms)
		if err == nil {
			ok.Add(float64(len(ms)))
			s.failing.clear(consumer)
		}
		// A failed batch counts nothing: its messages are handled (and
		// counted) one by one next.
		return err
	}
}

// Stop stops the service in reverse order of Start: it stops answering
// readiness, finishes in-flight requests, drains the consumers (handling and
// acknowledging what they already fetched), gives the relay a last chance to
// publish, and closes the database. It is safe to call more than once.
func (s *Service) Stop(ctx context.Context) error {
	var errs []error
	s.stopOnce.Do(func() {
		s.ready.Store(false)
		close(s.quit)
		s.watchers.Wait()
		switch {
		case s.handedOver.Load():
			s.gate.close() // the next generation serves; wait for what this one holds
		case s.front != nil:
			if err := s.front.srv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s http: %w", s.Name, err))
			}
		case s.ln != nil:
			s.ln.Close()
		}
		if s.OnStop != nil {
			if err := s.OnStop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", s.Name, err))
			}
		}
		errs = append(errs, s.stopBackground(ctx))
		if s.Writes != nil {
			s.Writes.Close()
		}
		if s.DB != nil {
			if err := s.DB.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s database: %w", s.Name, err))
			}
		}
		s.Log.Info("stopped")
	})
	return errors.Join(errs...)
}

// stopBackground drains the consumers, then stops the relay after a last
// flush.
func (s *Service) stopBackground(ctx context.Context) error {
	err := s.stopConsumers(ctx)
	if s.stopRelay != nil {
		s.stopRelay()
		<-s.relayDone
		s.stopRelay = nil
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if _, err := s.Relay.Flush(fctx); err != nil {
			s.Log.Warn("events left in the outbox; they are published at the next start", "err", err)
		}
		cancel()
	}
	return err
}

func (s *Service) stopConsumers(ctx context.Context) error {
	s.consMu.Lock()
	subs := s.subs
	s.subs = nil
	s.consMu.Unlock()
	var errs []error
	for _, r := range subs {
		if err := r.sub.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// subscribed is a consumer's running subscription.
type subscribed struct {
	name string
	sub  bus.Subscription
}

// subscription returns the running subscription of the consumer called
// name, or nil if it does not run (paused, or stopped).
func (s *Service) subscription(name string) bus.Subscription {
	s.consMu.Lock()
	defer s.consMu.Unlock()
	for _, r := range s.subs {
		if r.name == name {
			return r.sub
		}
	}
	return nil
}
