// Package dashboard serves Herald's dashboard: a JSON API over the running
// system (its topology, the streams' events, each event's journey, the dead
// letters) and the embedded pages that draw it.
//
// It keeps no state of its own beyond the previous topology snapshot (for
// events per second). Every fact comes from where it already lives: the
// catalogue, the bus and each service's GET /status and GET /journey. It
// runs in its own HTTP server and asks the services only while someone has
// a page open, so it adds no cost to their hot paths.
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/httpapi"
)

//go:embed static
var static embed.FS

// Options configures the dashboard's handler.
type Options struct {
	// Catalogue is the system's shape: the apps, their streams and
	// services. Required.
	Catalogue catalogue.Catalogue
	// Bus is a connection as the admin identity: it reads the streams and
	// the DLQ, and redrives and discards dead letters. Required.
	Bus *jetstream.Bus
	// Ask GETs path (with the operator token) from the running service
	// called service and decodes its JSON answer into v; it returns an
	// error if the service does not answer. Required.
	Ask func(ctx context.Context, service, path string, v any) error
	// URL returns the base URL of the service called service
	// (http://127.0.0.1:8081), for the topology and the proxy. Required.
	URL func(service string) string
	// Auth verifies the Authorization: Bearer token of the actions that
	// change something (redrive, discard, stop, start): they need an admin
	// token. nil leaves the actions open (tests).
	Auth *auth.Verifier
	// Control stops and starts services; nil (outside herald up) means
	// they are not offered.
	Control Controller
	// Log receives the errors the dashboard cannot show; default discards.
	Log *slog.Logger
	// Every is the period of the live topology updates; default 1s.
	Every time.Duration
}

// Controller stops and starts the services of the process the dashboard
// runs in (herald up). Its methods must be safe for concurrent use.
type Controller interface {
	Stop(ctx context.Context, service string) error
	Start(ctx context.Context, service string) error
	Running(service string) bool
}

// handler is the dashboard's state: its options, the previous topology
// snapshot and the hub of live clients.
type handler struct {
	o    Options
	rate *rates
	hub  *hub
}

// New returns the dashboard's handler: the JSON API under /api/ and the
// embedded pages everywhere else. It returns an error if a required option
// is missing. The handler is safe for concurrent use.
func New(o Options) (http.Handler, error) {
	h, err := newHandler(o)
	if err != nil {
		return nil, err
	}
	return h.routes()
}

func newHandler(o Options) (*handler, error) {
	switch {
	case len(o.Catalogue) == 0:
		return nil, errors.New("dashboard: no catalogue")
	case o.Bus == nil:
		return nil, errors.New("dashboard: no bus")
	case o.Ask == nil:
		return nil, errors.New("dashboard: no Ask")
	case o.URL == nil:
		return nil, errors.New("dashboard: no URL")
	case o.Every < 0:
		return nil, errors.New("dashboard: negative Every")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Every == 0 {
		o.Every = time.Second
	}
	h := &handler{o: o, rate: newRates(o.Every / 2)}
	h.hub = newHub(o.Every, h.snapshotJSON)
	return h, nil
}

func (h *handler) routes() (http.Handler, error) {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/topology", h.serveTopology)
	mux.HandleFunc("GET /api/live", h.serveLive)
	mux.HandleFunc("GET /api/events", h.serveEvents)
	mux.HandleFunc("GET /api/events/{stream}/{seq}", h.serveEvent)
	mux.HandleFunc("GET /api/journey/{id}", h.serveJourney)
	mux.HandleFunc("GET /api/dlq", h.serveDeadLetters)
	mux.Handle("POST /api/dlq/redrive", h.admin(http.HandlerFunc(h.serveRedrive)))
	mux.Handle("POST /api/dlq/discard", h.admin(h.dlqAction(h.o.Bus.Discard)))
	mux.Handle("POST /api/services/{name}/{action}", h.admin(http.HandlerFunc(h.serveControl)))
	mux.Handle("/api/proxy/{service}/{path...}", h.proxy())
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			httpapi.WriteProblem(w, http.StatusMethodNotAllowed, r.URL.Path+" does not allow "+r.Method+"; it allows "+strings.Join(allow, ", "))
			return
		}
		httpapi.WriteProblem(w, http.StatusNotFound, "no dashboard API route for "+r.Method+" "+r.URL.Path)
	})
	files := http.FileServerFS(assets)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httpapi.WriteProblem(w, http.StatusMethodNotAllowed, r.URL.Path+" does not allow "+r.Method+"; it allows GET, HEAD")
			return
		}
		files.ServeHTTP(w, r)
	})
	return httpapi.WithProblems(mux), nil
}

// allowed returns the methods mux has a route for r's path with, besides
// the catch-all "/api/".
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, p := mux.Handler(r2); p != "" && p != "/api/" {
			out = append(out, m)
		}
	}
	return out
}

// admin serves next only with an admin token, when the dashboard has a
// verifier.
func (h *handler) admin(next http.Handler) http.Handler {
	if h.o.Auth == nil {
		return next
	}
	return auth.RequireAdmin(h.o.Auth, next)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// internalError logs err with what was being done and answers 500 with a
// detail that says what failed.
func (h *handler) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.o.Log.Error("dashboard: "+what, "path", r.URL.Path, "err", err)
	httpapi.WriteProblem(w, http.StatusInternalServerError, what+": "+err.Error())
}

// rawJSON returns data as a JSON value: itself if it is valid JSON, else a
// JSON string of it, so that a foreign message never breaks an answer.
func rawJSON(data []byte) json.RawMessage {
	if json.Valid(data) {
		return data
	}
	b, _ := json.Marshal(string(data))
	return b
}
