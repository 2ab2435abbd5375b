package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own metrics, on its service's registry.
type metrics struct {
	accepted *prometheus.CounterVec // by shape
	pushed   *prometheus.CounterVec // by subscription and result
	refused  *prometheus.CounterVec // by status: events POST /events would not take from the caller
}

func newMetrics() *metrics {
	return &metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_gateway_events_accepted_total",
			Help: "Events POST /events stored, by the shape they were posted in (tutorial, structured, binary).",
		}, []string{"shape"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_gateway_push_deliveries_total",
			Help: "Push delivery attempts, by subscription and result (ok: the subscriber answered 2xx; error: anything else, retried).",
		}, []string{"subscription", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_gateway_events_refused_total",
			Help: "Events POST /events refused to the caller, by status: 403 for a type a Herald service owns or the token does not name, 401 without a valid gateway token.",
		}, []string{"status"}),
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.accepted, m.pushed, m.refused} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}
