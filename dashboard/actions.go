package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/dlq"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/service"
)

// Bounds of the actions.
const (
	maxSeqs        = 1000
	maxActionBody  = 64 << 10
	actionTimeout  = 30 * time.Second
	journeyTimeout = 30 * time.Second
)

// DeadLetters is GET /api/dlq's answer.
type DeadLetters struct {
	DeadLetters []DeadLetter `json:"deadLetters"`
}

// DeadLetter is one message a consumer failed every attempt at.
type DeadLetter struct {
	Seq      uint64          `json:"seq"`      // position in the DLQ: what redrive and discard take
	Consumer string          `json:"consumer"` // the durable consumer that failed it
	Stream   string          `json:"stream"`
	Sequence uint64          `json:"sequence"` // position in Stream
	Subject  string          `json:"subject"`
	ID       string          `json:"id"`             // the event's id
	Type     string          `json:"type,omitempty"` // the event's CloudEvent type, if it is one
	Error    string          `json:"error"`
	Attempts int             `json:"attempts"`
	FailedAt time.Time       `json:"failedAt"`
	Event    json.RawMessage `json:"event"` // the CloudEvent as stored
}

// Seqs is the body of POST /api/dlq/discard.
type Seqs struct {
	Seqs []uint64 `json:"seqs"`
}

// Done is its answer: the positions done, and those that failed, why.
type Done struct {
	Done   []uint64 `json:"done"`
	Failed []Failed `json:"failed"`
}

// Failed is one position an action failed on.
type Failed struct {
	Seq   uint64 `json:"seq"`
	Error string `json:"error"`
}

// ServiceRunning is the answer of POST /api/services/{name}/stop|start.
type ServiceRunning struct {
	Name    string `json:"name"`
	Running bool   `json:"running"`
}

var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// serveDeadLetters answers GET /api/dlq?consumer=&type=&since=&until=:
// the dead letters that pass the filters (dlq.Filter's), oldest first.
func (h *handler) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "consumer" && k != "type" && k != "since" && k != "until" {
			httpapi.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q; the parameters are consumer, type, since and until", k))
			return
		}
	}
	f, err := RedriveRequest{All: true, Consumer: q.Get("consumer"), Type: q.Get("type"), Since: q.Get("since"), Until: q.Get("until")}.filter(time.Now())
	if err != nil {
		httpapi.WriteProblem(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	dls, err := h.o.Bus.DeadLetters(ctx, f.Consumer)
	if err != nil {
		h.internalError(w, r, "read the dead-letter stream", err)
		return
	}
	out := DeadLetters{DeadLetters: make([]DeadLetter, 0, len(dls))}
	for _, d := range dls {
		if !f.Match(d) {
			continue
		}
		ev := dlq.EventOf(d)
		out.DeadLetters = append(out.DeadLetters, DeadLetter{
			Seq: d.Seq, Consumer: d.Consumer, Stream: d.Stream, Sequence: d.Sequence, Subject: d.Subject, ID: ev.ID,
			Type: ev.Type, Error: d.Error, Attempts: d.Attempts, FailedAt: d.FailedAt, Event: rawJSON(d.Data),
		})
	}
	writeJSON(w, out)
}

// dlqAction serves a POST of Seqs by doing act on each position, in order.
func (h *handler) dlqAction(act func(context.Context, uint64) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body Seqs
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			httpapi.WriteProblem(w, http.StatusBadRequest, `the body must be JSON {"seqs":[1,2]}: `+err.Error())
			return
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			httpapi.WriteProblem(w, http.StatusBadRequest, `the body must be one JSON object {"seqs":[1,2]}`)
			return
		}
		switch {
		case len(body.Seqs) == 0:
			httpapi.WriteProblem(w, http.StatusUnprocessableEntity, "seqs must list at least one dead-letter position")
			return
		case len(body.Seqs) > maxSeqs:
			httpapi.WriteProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf("seqs lists %d positions; the limit is %d", len(body.Seqs), maxSeqs))
			return
		}
		for _, s := range body.Seqs {
			if s == 0 {
				httpapi.WriteProblem(w, http.StatusUnprocessableEntity, "seqs must be positive dead-letter positions; 0 is none")
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
		defer cancel()
		out := Done{Done: []uint64{}, Failed: []Failed{}}
		for _, s := range body.Seqs {
			if err := act(ctx, s); err != nil {
				msg := err.Error()
				if !errors.Is(err, jetstream.ErrNoDeadLetter) {
					h.o.Log.Warn("dashboard: dead-letter action", "path", r.URL.Path, "seq", s, "err", err)
				}
				out.Failed = append(out.Failed, Failed{Seq: s, Error: msg})
				continue
			}
			out.Done = append(out.Done, s)
		}
		writeJSON(w, out)
	})
}

// serveControl answers POST /api/services/{name}/stop and .../start.
func (h *handler) serveControl(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	if action != "stop" && action != "start" {
		httpapi.WriteProblem(w, http.StatusNotFound, fmt.Sprintf("no action %q: a service can be stopped (stop) or started (start)", action))
		return
	}
	if h.o.Control == nil {
		httpapi.WriteProblem(w, http.StatusNotFound, "this dashboard cannot stop or start services: only herald up can")
		return
	}
	if _, _, ok := h.o.Catalogue.Lookup(name); !ok {
		httpapi.WriteProblem(w, http.StatusNotFound, fmt.Sprintf("no service %q in the catalogue", name))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	do := h.o.Control.Stop
	if action == "start" {
		do = h.o.Control.Start
	}
	if err := do(ctx, name); err != nil {
		h.internalError(w, r, action+" "+name, err)
		return
	}
	writeJSON(w, ServiceRunning{Name: name, Running: h.o.Control.Running(name)})
}

// serveJourney answers GET /api/journey/{id}: the journey of an event id
// or a trace id, as herald trace --json prints it.
func (h *handler) serveJourney(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		httpapi.WriteProblem(w, http.StatusUnprocessableEntity, "id must be an event id or a trace id (32 hex digits)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), journeyTimeout)
	defer cancel()
	j, err := journey.Of(ctx, journey.Sources{
		Bus: h.o.Bus, Catalogue: h.o.Catalogue,
		Service: func(ctx context.Context, name string, q url.Values) (service.Journey, error) {
			ctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			var p service.Journey
			return p, h.o.Ask(ctx, name, "/journey?"+q.Encode(), &p)
		},
	}, id)
	if errors.Is(err, journey.ErrNotFound) {
		httpapi.WriteProblem(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		h.internalError(w, r, "journey of "+id, err)
		return
	}
	writeJSON(w, j)
}
