package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/service"
)

// askTimeout bounds each service's answer to GET /status.
const askTimeout = 2 * time.Second

// Topology is GET /api/topology's answer: the catalogue's shape merged with
// what each running service says of itself.
type Topology struct {
	Apps []AppState `json:"apps"`
}

// AppState is one app: its stream and its services.
type AppState struct {
	Name     string         `json:"name"`
	Stream   string         `json:"stream"`
	Subjects string         `json:"subjects"` // the stream's subjects: "shop.>"
	LastSeq  uint64         `json:"lastSeq"`  // the stream's last position; 0 if empty or unknown
	Error    string         `json:"error,omitempty"`
	Services []ServiceState `json:"services"`
}

// ServiceState is one service: its shape from the catalogue, and its state
// from its GET /status (Up) or, when it does not answer, its consumers'
// state from the bus.
type ServiceState struct {
	Name      string          `json:"name"`
	URL       string          `json:"url"`
	Up        bool            `json:"up"`              // it answered GET /status
	Ready     bool            `json:"ready"`           // and said it is ready
	Store     string          `json:"store"`           // "sqlite", "postgres"; "" when down
	ReadModel bool            `json:"readModel"`       // a query service
	Error     string          `json:"error,omitempty"` // why it did not answer
	Publishes []string        `json:"publishes"`       // the event types it owns
	Consumes  []ConsumerState `json:"consumes"`
	Relay     *RelayState     `json:"relay"` // null for a service without an outbox, or down
	// Controllable says the dashboard can stop and start it (herald up);
	// Running is then whether it runs, else whether it is Up.
	Controllable bool `json:"controllable"`
	Running      bool `json:"running"`
}

// ConsumerState is one durable consumer's progress.
type ConsumerState struct {
	Durable      string   `json:"durable"`
	Subjects     []string `json:"subjects"`
	Pending      uint64   `json:"pending"`      // not yet delivered
	AckPending   int      `json:"ackPending"`   // delivered, not yet settled
	DeadLettered uint64   `json:"deadLettered"` // waiting in the DLQ
	LagSeconds   float64  `json:"lagSeconds"`   // age of the oldest unsettled message
	AckFloor     uint64   `json:"ackFloor"`     // stream position settled up to
	// EventsPerSecond is how fast AckFloor moved since the previous
	// snapshot, in stream positions per second.
	EventsPerSecond float64 `json:"eventsPerSecond"`
	Error           string  `json:"error,omitempty"` // the bus could not say
	// Failing is set while the consumer's latest attempt at an event
	// failed (a push subscriber that is down): it retries the event, or
	// dead-lettered it and has handled nothing since.
	Failing *service.Failing `json:"failing,omitempty"`
}

// RelayState is a service's outbox relay.
type RelayState struct {
	Depth         int     `json:"depth"`         // events waiting in the outbox
	OldestSeconds float64 `json:"oldestSeconds"` // age of the oldest of them
	Published     int64   `json:"published"`     // since the service started
}

func (h *handler) serveTopology(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, h.snapshot(r.Context()))
}

// snapshotJSON is snapshot encoded, for the live clients.
func (h *handler) snapshotJSON(ctx context.Context) []byte {
	b, err := json.Marshal(h.snapshot(ctx))
	if err != nil { // cannot happen: every field encodes
		h.o.Log.Error("dashboard: encode topology", "err", err)
	}
	return b
}

// snapshot asks every service for its status, in parallel, and merges the
// answers into the catalogue's shape. A service that does not answer within
// askTimeout is down; its consumers' state is then read from the bus.
func (h *handler) snapshot(ctx context.Context) Topology {
	top := Topology{Apps: make([]AppState, len(h.o.Catalogue))}
	var wg sync.WaitGroup
	for i, a := range h.o.Catalogue {
		top.Apps[i] = AppState{Name: a.Name, Stream: a.Stream, Subjects: a.Subjects, Services: make([]ServiceState, len(a.Services))}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			seq, err := h.o.Bus.LastSeq(ctx, a.Stream)
			top.Apps[i].LastSeq = seq
			if err != nil {
				top.Apps[i].Error = err.Error()
			}
		})
		for j, s := range a.Services {
			wg.Go(func() { top.Apps[i].Services[j] = h.serviceState(ctx, a, s) })
		}
	}
	wg.Wait()
	now := time.Now()
	for i := range top.Apps {
		for j := range top.Apps[i].Services {
			for k := range top.Apps[i].Services[j].Consumes {
				c := &top.Apps[i].Services[j].Consumes[k]
				if c.Error == "" {
					c.EventsPerSecond = h.rate.of(top.Apps[i].Stream+"/"+c.Durable, c.AckFloor, now)
				}
			}
		}
	}
	return top
}

func (h *handler) serviceState(ctx context.Context, a catalogue.App, s catalogue.Service) ServiceState {
	st := ServiceState{Name: s.Name, URL: h.o.URL(s.Name), ReadModel: s.ReadModel, Publishes: []string{}, Consumes: []ConsumerState{}}
	for _, d := range s.Publishes {
		st.Publishes = append(st.Publishes, d.Type)
	}
	if h.o.Control != nil {
		st.Controllable, st.Running = true, h.o.Control.Running(s.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	var status service.Status
	if err := h.o.Ask(ctx, s.Name, "/status", &status); err != nil {
		st.Error = err.Error()
		st.Consumes = h.busConsumers(ctx, a, s)
		return st
	}
	st.Up, st.Ready, st.Store = true, status.Ready, status.Store
	if h.o.Control == nil {
		st.Running = true
	}
	for _, c := range status.Consumers {
		st.Consumes = append(st.Consumes, ConsumerState{
			Durable: c.Name, Subjects: c.Subjects, Pending: c.Pending, AckPending: c.AckPending,
			DeadLettered: c.DeadLettered, LagSeconds: c.LagSeconds, AckFloor: c.AckFloor, Error: c.Error, Failing: c.Failing,
		})
	}
	if r := status.Relay; r != nil {
		st.Relay = &RelayState{Depth: r.Depth, OldestSeconds: r.OldestSeconds, Published: r.Published}
	}
	return st
}

// busConsumers returns the state the bus keeps of the consumers the
// catalogue gives s, for a service that is down: its pending messages
// still grow while it is stopped. Per-subscription consumers, named only at
// run time, are left out.
func (h *handler) busConsumers(ctx context.Context, a catalogue.App, s catalogue.Service) []ConsumerState {
	out := []ConsumerState{}
	for _, c := range s.Consumes {
		if c.PerSubscription {
			continue
		}
		cs := ConsumerState{Durable: a.Durable(s, c, ""), Subjects: c.Subjects()}
		st, err := h.o.Bus.ConsumerState(ctx, a.Stream, cs.Durable)
		if err != nil {
			cs.Error = err.Error()
		} else {
			cs.Pending, cs.AckPending, cs.DeadLettered = st.Pending, st.AckPending, st.DeadLettered
			cs.LagSeconds, cs.AckFloor = st.Lag.Seconds(), st.AckFloor
		}
		out = append(out, cs)
	}
	return out
}

// rates remembers each consumer's ack floor at the previous snapshot, the
// only state the dashboard keeps. It is safe for concurrent use.
type rates struct {
	mu   sync.Mutex
	min  time.Duration // snapshots closer than this reuse the last rate
	prev map[string]sample
}

type sample struct {
	floor uint64
	at    time.Time
	rate  float64
}

func newRates(min time.Duration) *rates {
	return &rates{min: min, prev: map[string]sample{}}
}

// of returns how fast key's ack floor moved since the previous snapshot, in
// positions per second, and remembers floor. A snapshot less than r.min
// after the previous one (two pages open at once) gets the previous rate,
// so that a short interval does not make it jump. The first snapshot, and
// a floor that went back (a consumer recreated), give 0.
func (r *rates) of(key string, floor uint64, now time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.prev[key]
	if ok && now.Sub(p.at) < r.min {
		return p.rate
	}
	s := sample{floor: floor, at: now}
	if ok && floor >= p.floor {
		s.rate = float64(floor-p.floor) / now.Sub(p.at).Seconds()
	}
	r.prev[key] = s
	return s.rate
}
