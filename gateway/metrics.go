package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own metrics, on its service's registry.
type metrics struct {
	accepted *prometheus.CounterVec // by shape
	pushed   *prometheus.CounterVec // by subscription and result
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
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.accepted, m.pushed} {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("register metric: %w", err)
		}
	}
	return nil
}
