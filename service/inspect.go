package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// inspector is the part of a bus that can say how its consumers stand
// (jetstream.Bus).
type inspector interface {
	ConsumerState(ctx context.Context, stream, name string) (jetstream.ConsumerState, error)
}

// Status is a service's GET /status answer.
type Status struct {
	Service   string           `json:"service"`
	App       string           `json:"app,omitempty"`
	Ready     bool             `json:"ready"`
	Store     string           `json:"store"`
	Consumers []ConsumerStatus `json:"consumers"`
	Relay     *RelayStatus     `json:"relay,omitempty"`
}

// ConsumerStatus is one consumer's part of a Status: the bus's state of it,
// and its lag in seconds; Error is set instead if the bus cannot say.
type ConsumerStatus struct {
	jetstream.ConsumerState
	LagSeconds float64 `json:"lagSeconds"`
	Error      string  `json:"error,omitempty"`
	// Failing is set while the consumer's latest attempt at an event
	// failed: it is retrying it, or dead-lettered it and has handled
	// nothing since.
	Failing *Failing `json:"failing,omitempty"`
}

// RelayStatus is the outbox relay's part of a Status.
type RelayStatus struct {
	Depth         int       `json:"depth"`           // events waiting in the outbox
	Oldest        time.Time `json:"oldest,omitzero"` // when the oldest of them was committed
	OldestSeconds float64   `json:"oldestSeconds"`   // and how long ago
	Published     int64     `json:"published"`       // since the service started
	Error         string    `json:"error,omitempty"` // the outbox could not be read
}

// Status returns the service's status, from its database and the bus.
func (s *Service) Status(ctx context.Context) Status {
	st := Status{Service: s.Name, App: s.App, Ready: s.ready.Load(), Store: s.Store, Consumers: []ConsumerStatus{}}
	for _, c := range s.allConsumers() {
		st.Consumers = append(st.Consumers, s.consumerStatus(ctx, c))
	}
	if s.Relay != nil {
		r := &RelayStatus{Published: s.Relay.Published()}
		b, err := outbox.Waiting(ctx, s.DB)
		if err != nil {
			r.Error = err.Error()
		}
		r.Depth, r.Oldest = b.Depth, b.Oldest
		if !b.Oldest.IsZero() {
			r.OldestSeconds = max(time.Since(b.Oldest).Seconds(), 0)
		}
		st.Relay = r
	}
	return st
}

func (s *Service) consumerStatus(ctx context.Context, c bus.Consumer) ConsumerStatus {
	cs := ConsumerStatus{ConsumerState: jetstream.ConsumerState{Name: c.Name, Stream: c.Stream, Subjects: c.Subjects}, Failing: s.failing.of(c.Name)}
	in, ok := s.bus.(inspector)
	if !ok {
		cs.Error = "the bus cannot report its consumers' state"
		return cs
	}
	st, err := in.ConsumerState(ctx, c.Stream, c.Name)
	if err != nil {
		cs.Error = err.Error()
		return cs
	}
	cs.ConsumerState, cs.LagSeconds = st, st.Lag.Seconds()
	return cs
}

// allConsumers returns Consumers' and MoreConsumers' consumers.
func (s *Service) allConsumers() []bus.Consumer {
	out := make([]bus.Consumer, 0, len(s.Consumers))
	for _, c := range s.Consumers {
		out = append(out, c.Consumer)
	}
	if s.MoreConsumers != nil {
		out = append(out, s.MoreConsumers()...)
	}
	return out
}

func (s *Service) serveStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	writeJSON(w, s.Status(ctx))
}

// Journey is a service's part of an event's journey (GET /journey): its
// spans of the event or trace, kept in the process's ring, and what its
// database says of the event.
type Journey struct {
	Service string `json:"service"`
	// Consumers are the durable consumers this instance runs: Applied is
	// about them (a query replica's own).
	Consumers []string `json:"consumers"`
	// Spans are this service's spans of the trace (or about the event),
	// oldest first; empty when the ring no longer holds them or the
	// service is not traced (Traced false).
	Spans  []observe.Span `json:"spans"`
	Traced bool           `json:"traced"`
	// Records says the service records the events its consumers apply
	// (processed_events), so that Applied is known; false for one that
	// does not (the gateway's pushes), whose Applied is always nil.
	Records bool `json:"records"`
	// Applied is when this service's consumers applied the event, if they
	// have (its processed_events row).
	Applied *time.Time `json:"applied,omitempty"`
	// Queued is when the event was committed to this service's outbox, if
	// it still waits there to be published.
	Queued *time.Time `json:"queued,omitempty"`
}

var (
	traceID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	eventID = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)
)

// serveJourney answers GET /journey?event=<id>&trace=<trace id>: this
// service's part of the journey of the event, and of its trace.
func (s *Service) serveJourney(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ev, tr := q.Get("event"), q.Get("trace")
	if ev == "" && tr == "" || ev != "" && !eventID.MatchString(ev) || tr != "" && !traceID.MatchString(tr) {
		httpapi.WriteProblem(w, http.StatusBadRequest, "pass ?event=<event id> and/or ?trace=<32 hex digits of a trace id>")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	j := Journey{Service: s.Name, Consumers: []string{}, Spans: []observe.Span{}, Traced: s.traced() && s.ring != nil, Records: s.fresh != nil}
	for _, c := range s.allConsumers() {
		j.Consumers = append(j.Consumers, c.Name)
	}
	if s.ring != nil {
		j.Spans = append(j.Spans, s.ring.Of(s.Name, tr, ev)...)
	}
	if ev != "" {
		var errs []error
		if s.fresh != nil {
			at, ok, err := store.AppliedAt(ctx, s.DB, ev)
			errs = append(errs, err)
			if ok {
				j.Applied = &at
			}
		}
		if s.Relay != nil {
			at, ok, err := outbox.Queued(ctx, s.DB, ev)
			errs = append(errs, err)
			if ok {
				j.Queued = &at
			}
		}
		if err := errors.Join(errs...); err != nil {
			s.Log.WarnContext(ctx, "journey", "event", ev, "err", err)
			httpapi.WriteProblem(w, http.StatusServiceUnavailable, s.Name+" cannot read its database: "+err.Error())
			return
		}
	}
	writeJSON(w, j)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// inspectMetrics registers the gauges that read the bus and the outbox at
// each scrape: herald_consumer_lag_seconds and herald_outbox_oldest_seconds.
func (s *Service) inspectMetrics() error {
	var cs []prometheus.Collector
	for _, c := range s.Consumers {
		c := c.Consumer
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "herald_consumer_lag_seconds",
			Help:        "How long the consumer's oldest unsettled event has waited since the bus stored it; 0 when caught up, -1 if the bus cannot say.",
			ConstLabels: prometheus.Labels{"consumer": c.Name},
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st := s.consumerStatus(ctx, c)
			if st.Error != "" {
				return -1
			}
			return st.LagSeconds
		}))
	}
	if s.Relay != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "herald_outbox_oldest_seconds",
			Help: "How long the oldest event waiting in the outbox has waited since its commit; 0 when the outbox is empty, -1 if it cannot be read.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			b, err := outbox.Waiting(ctx, s.DB)
			switch {
			case err != nil:
				return -1
			case b.Oldest.IsZero():
				return 0
			}
			return max(time.Since(b.Oldest).Seconds(), 0)
		}))
	}
	return registerAll(s.Metrics, cs...)
}
