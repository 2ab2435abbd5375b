package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/dlq"
	"github.com/heraldev/herald/httpapi"
)

// maxRedrive is the most dead letters one POST /api/dlq/redrive
// redrives: at dlq.DefaultRate a second, 10 seconds, well inside
// actionTimeout.
const maxRedrive = 500

// RedriveRequest is the body of POST /api/dlq/redrive: the dead letters to
// redrive, by position (seqs) or all of them, narrowed by the filters,
// which alone also select; at most max of them, oldest first. With dryRun
// the answer is the plan, and nothing changes. {"seqs":[1,2]} is the
// simplest.
type RedriveRequest struct {
	Seqs     []uint64 `json:"seqs,omitempty"`
	All      bool     `json:"all,omitempty"`
	Type     string   `json:"type,omitempty"`     // the events' CloudEvent type
	Consumer string   `json:"consumer,omitempty"` // the consumer that failed them
	Since    string   `json:"since,omitempty"`    // dead-lettered at or after: RFC 3339, or a duration ago ("2h")
	Until    string   `json:"until,omitempty"`    // dead-lettered at or before: likewise
	Max      int      `json:"max,omitempty"`      // 0: maxRedrive, also the most allowed
	DryRun   bool     `json:"dryRun,omitempty"`
	// Upcast republishes each event through the current upcasters (a
	// dead-lettered v1 event goes back as v2).
	Upcast bool `json:"upcast,omitempty"`
}

// RedriveAnswer answers POST /api/dlq/redrive: every dead letter named,
// what was (or, in a dry run, would be) done with it and why, and the
// positions by outcome.
type RedriveAnswer struct {
	DryRun    bool           `json:"dryRun"`
	Decisions []dlq.Decision `json:"decisions"`
	Done      []uint64       `json:"done"`    // redriven (in a dry run: would be)
	Failed    []Failed       `json:"failed"`  // not redriven, and why: their dead letters stay (a position holding none, too)
	Skipped   []uint64       `json:"skipped"` // left: applied since, or over the max
}

// serveRedrive answers POST /api/dlq/redrive with dlq's plan, carried
// out unless it is a dry run.
func (h *handler) serveRedrive(w http.ResponseWriter, r *http.Request) {
	var req RedriveRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		httpapi.WriteProblem(w, http.StatusBadRequest, `the body must be JSON {"seqs":[1,2]}, or {"all":true} with filters (type, consumer, since, until), max and dryRun: `+err.Error())
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		httpapi.WriteProblem(w, http.StatusBadRequest, `the body must be one JSON object`)
		return
	}
	f, err := req.filter(time.Now())
	if err != nil {
		httpapi.WriteProblem(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	max := req.Max
	switch {
	case max < 0 || max > maxRedrive:
		httpapi.WriteProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf("max %d: give from 1 to %d (one request redrives at most %d; send another for more)", max, maxRedrive, maxRedrive))
		return
	case max == 0:
		max = maxRedrive
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	rd := dlq.Redriver{Bus: h.o.Bus, Catalogue: h.o.Catalogue, Ask: h.o.Ask}
	plan, err := rd.Plan(ctx, f, max)
	if err != nil {
		h.internalError(w, r, "plan the redrive", err)
		return
	}
	out := RedriveAnswer{DryRun: req.DryRun, Decisions: plan.Decisions, Done: []uint64{}, Failed: []Failed{}, Skipped: []uint64{}}
	for _, d := range plan.Decisions {
		switch d.Action {
		case dlq.Missing:
			out.Failed = append(out.Failed, Failed{Seq: d.Seq, Error: d.Reason})
		case dlq.Applied, dlq.OverMax:
			out.Skipped = append(out.Skipped, d.Seq)
		case dlq.Redrive:
			if req.DryRun {
				out.Done = append(out.Done, d.Seq)
			}
		}
	}
	if !req.DryRun {
		opts := dlq.RunOptions{By: redrivenBy(r)}
		if req.Upcast {
			opts.Transform = h.o.Catalogue.Upcast
		}
		results, err := rd.Run(ctx, plan, opts)
		for _, res := range results {
			if res.Error != "" {
				h.o.Log.Warn("dashboard: redrive", "seq", res.Seq, "err", res.Error)
				out.Failed = append(out.Failed, Failed{Seq: res.Seq, Error: res.Error})
				continue
			}
			out.Done = append(out.Done, res.Seq)
		}
		if err != nil { // out of time: what is not done is still in the dead letters
			h.o.Log.Warn("dashboard: redrive stopped", "err", err)
			for _, d := range plan.Decisions {
				if d.Action == dlq.Redrive && !reported(out, d.Seq) {
					out.Failed = append(out.Failed, Failed{Seq: d.Seq, Error: "not redriven: " + err.Error()})
				}
			}
		}
	}
	writeJSON(w, out)
}

// reported reports whether out has seq as done or failed already.
func reported(out RedriveAnswer, seq uint64) bool {
	for _, s := range out.Done {
		if s == seq {
			return true
		}
	}
	for _, f := range out.Failed {
		if f.Seq == seq {
			return true
		}
	}
	return false
}

// filter returns the request's selection as a dlq.Filter, or an error for
// the person who sent it.
func (req RedriveRequest) filter(now time.Time) (dlq.Filter, error) {
	if len(req.Seqs) > maxSeqs {
		return dlq.Filter{}, fmt.Errorf("seqs lists %d positions; the limit is %d", len(req.Seqs), maxSeqs)
	}
	if req.Consumer != "" && !consumerName.MatchString(req.Consumer) {
		return dlq.Filter{}, fmt.Errorf("consumer %q must be a durable consumer's name: letters, digits, '_' and '-'", req.Consumer)
	}
	f := dlq.Filter{Seqs: req.Seqs, All: req.All, Type: req.Type, Consumer: req.Consumer}
	var err error
	if f.Since, err = dlq.ParseTime(req.Since, now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = dlq.ParseTime(req.Until, now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	err = f.Check()
	if errors.Is(err, dlq.ErrNothingNamed) {
		err = errors.New(`name the dead letters to redrive: "seqs" (their positions), "all": true, or a filter ("type", "consumer", "since", "until")`)
	}
	return f, err
}

// redrivenBy names who redrives through r: the token's holder, from where.
func redrivenBy(r *http.Request) string {
	who := "someone"
	if c, ok := auth.FromContext(r.Context()); ok {
		who = c.Subject
		if c.Subject != auth.OperatorSubject {
			who = "user " + c.Subject
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		who += " at " + host
	}
	return who + " via the dashboard"
}
