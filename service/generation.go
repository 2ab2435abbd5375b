package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldev/herald/httpapi"
)

// Generations switches the copies of a read model (see store.Generations)
// for a blue/green rebuild: catalogue.Running implements it for each read
// model it runs. Its methods are safe for concurrent use.
type Generations interface {
	// State returns the read model's live generation and what a rebuild
	// needs to build the next one.
	State(ctx context.Context) (GenerationState, error)
	// Pause stops the read model's consumers (they finish and acknowledge
	// what they hold) for at most lease, so that a rebuild can catch up
	// with everything they applied; at the end of the lease they resume by
	// themselves. Pausing a paused read model renews the lease.
	Pause(ctx context.Context, lease time.Duration) (GenerationState, error)
	// Resume ends a pause at once.
	Resume(ctx context.Context) error
	// Switch makes generation gen, which a rebuild completed while the
	// consumers were paused, the live one: reads go to it and the
	// consumers resume on it; the old generation is then removed.
	Switch(ctx context.Context, gen int) (GenerationState, error)
}

// GenerationState is GET /generation's answer.
type GenerationState struct {
	Service    string `json:"service"`
	Generation int    `json:"generation"` // the live generation
	Path       string `json:"path"`       // its database file, absolute
	First      string `json:"first"`      // generation 1's file: where the others are named from
	// Projection is the version of the projection this code runs; Built
	// the version the live generation was built with (0: not recorded).
	Projection int    `json:"projection"`
	Built      int    `json:"built"`
	Stream     string `json:"stream"`
	// Consumers are the read model's durable consumers and Subjects the
	// subjects they take: what a rebuild replays.
	Consumers []string `json:"consumers"`
	Subjects  []string `json:"subjects"`
	// PausedUntil is set while a rebuild has the consumers paused.
	PausedUntil *time.Time `json:"pausedUntil,omitempty"`
	// Rebuilding is set while this process rebuilds the read model itself
	// (its projection changed): how far it is.
	Rebuilding *RebuildProgress `json:"rebuilding,omitempty"`
}

// RebuildProgress is how far a rebuild is.
type RebuildProgress struct {
	Generation int       `json:"generation"` // the generation being built
	Applied    uint64    `json:"applied"`    // stream position applied up to
	Target     uint64    `json:"target"`     // the stream's last position when last looked
	Events     int64     `json:"events"`     // events applied so far
	Started    time.Time `json:"started"`
}

// maxLease bounds a pause: a rebuild that needs longer pauses again.
const maxLease = 5 * time.Minute

// PauseConsumers stops the service's consumers, which finish and
// acknowledge what they hold; the service goes on serving. It is the
// first half of a generation switch.
func (s *Service) PauseConsumers(ctx context.Context) error {
	return s.stopConsumers(ctx)
}

// ResumeConsumers starts again the consumers PauseConsumers stopped, where
// they stopped. It is an error on a service that is stopping.
func (s *Service) ResumeConsumers(ctx context.Context) error {
	select {
	case <-s.quit:
		return fmt.Errorf("%s: resume consumers: the service is stopping", s.Name)
	default:
	}
	for _, c := range s.Consumers {
		if s.subscription(c.Name) != nil {
			continue
		}
		if err := s.subscribe(ctx, s.bus, c); err != nil {
			return fmt.Errorf("%s: resume consumer %s: %w", s.Name, c.Name, err)
		}
	}
	return nil
}

// serveGeneration answers GET /generation, POST /generation/pause
// {"lease":"30s"}, POST /generation/resume and POST /generation/switch
// {"generation":2}.
func (s *Service) serveGeneration(w http.ResponseWriter, r *http.Request) {
	g := s.Generations
	if g == nil {
		httpapi.WriteProblem(w, http.StatusNotFound, s.Name+" is not a read model: it has no generations to rebuild")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	var (
		st  GenerationState
		err error
	)
	switch action := r.PathValue("action"); {
	case r.Method == http.MethodGet && action == "":
		st, err = g.State(ctx)
	case r.Method == http.MethodPost && action == "pause":
		var body struct {
			Lease string `json:"lease"`
		}
		if !decodeBody(w, r, &body) {
			return
		}
		lease, perr := time.ParseDuration(body.Lease)
		if perr != nil || lease <= 0 || lease > maxLease {
			httpapi.WriteProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf(`lease %q must be a duration from 1s to %s, like "30s"`, body.Lease, maxLease))
			return
		}
		st, err = g.Pause(ctx, lease)
	case r.Method == http.MethodPost && action == "resume":
		if err = g.Resume(ctx); err == nil {
			st, err = g.State(ctx)
		}
	case r.Method == http.MethodPost && action == "switch":
		var body struct {
			Generation int `json:"generation"`
		}
		if !decodeBody(w, r, &body) {
			return
		}
		st, err = g.Switch(ctx, body.Generation)
	default:
		httpapi.WriteProblem(w, http.StatusNotFound, "the generation routes are GET /generation and POST /generation/pause, /resume and /switch")
		return
	}
	if err != nil {
		code := http.StatusInternalServerError
		var c *Conflict
		if errors.As(err, &c) {
			code = http.StatusConflict
		}
		s.Log.Warn("generation", "path", r.URL.Path, "err", err)
		httpapi.WriteProblem(w, code, err.Error())
		return
	}
	writeJSON(w, st)
}

// Conflict is an error of a generation action the read model's state
// does not allow now (a switch without a pause, to a generation that is
// not complete); it answers 409.
type Conflict struct{ Msg string }

func (c *Conflict) Error() string { return c.Msg }

// decodeBody decodes r's JSON body into v, answering 400 and returning
// false if it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		httpapi.WriteProblem(w, http.StatusBadRequest, "the body must be a JSON object: "+err.Error())
		return false
	}
	return true
}
