package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
)

// Bounds of GET /api/events.
const (
	defaultLimit = 50
	maxLimit     = 200
	// window is how many stream positions one read takes, going back; a
	// filtered read, which the server narrows to matching subjects, doubles
	// it after each window that found too little.
	window = 500
	// maxScan is how many positions one request reads at most; a sparse
	// filter on a long stream answers with what it found and a next
	// position to go on from.
	maxScan     = 20_000
	readTimeout = 10 * time.Second
)

// Events is GET /api/events's answer: a page of events, newest first, and
// the position to pass as before for the next page (0: none older).
type Events struct {
	Events []Event `json:"events"`
	Next   uint64  `json:"next"`
}

// Event is one stored message of a stream.
type Event struct {
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`          // the NATS subject
	Time    time.Time `json:"time"`             // when the stream stored it
	ID      string    `json:"id"`               // the CloudEvent's id
	Type    string    `json:"type"`             // its type
	Entity  string    `json:"entity,omitempty"` // its subject: the entity's id
	// Event is the CloudEvent as stored (a JSON string if the message is
	// not JSON).
	Event json.RawMessage `json:"event"`
}

// eventQuery is a parsed GET /api/events.
type eventQuery struct {
	app     catalogue.App
	before  uint64 // 0: from the last position
	limit   int
	typ     string
	subject string // a subject pattern
	entity  string
	since   time.Time
	filter  []string // server-side subject filter
}

var eventParams = []string{"stream", "before", "limit", "type", "subject", "entity", "since"}

// parseEvents reads and checks the query of GET /api/events. Its errors are
// for the caller, naming the parameter.
func (h *handler) parseEvents(q url.Values) (eventQuery, error) {
	var e eventQuery
	for k := range q {
		if !slices.Contains(eventParams, k) {
			return e, fmt.Errorf("unknown parameter %q; the parameters are %s", k, strings.Join(eventParams, ", "))
		}
	}
	var err error
	if e.app, err = h.stream(q.Get("stream")); err != nil {
		return e, err
	}
	if v := q.Get("before"); v != "" {
		if e.before, err = strconv.ParseUint(v, 10, 64); err != nil || e.before == 0 {
			return e, fmt.Errorf("before %q must be a stream position, a positive integer", v)
		}
	}
	e.limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		if e.limit, err = strconv.Atoi(v); err != nil || e.limit < 1 || e.limit > maxLimit {
			return e, fmt.Errorf("limit %q must be an integer from 1 to %d", v, maxLimit)
		}
	}
	if e.subject = strings.TrimSpace(q.Get("subject")); e.subject != "" {
		if err := checkSubject(e.subject); err != nil {
			return e, err
		}
		e.filter = []string{e.subject}
	}
	if e.typ = strings.TrimSpace(q.Get("type")); e.typ != "" {
		if err := event.CheckBlogType(e.typ); err != nil {
			return e, fmt.Errorf("type: %w", err)
		}
		subj := event.Subject(e.typ)
		if !catalogue.SubjectMatches(e.app.Subjects, subj) {
			return e, fmt.Errorf("type %s travels on %s, which stream %s (%s) does not carry", e.typ, subj, e.app.Stream, e.app.Subjects)
		}
		if e.subject != "" && !catalogue.SubjectMatches(e.subject, subj) {
			return e, fmt.Errorf("type %s travels on %s, which subject %s does not match", e.typ, subj, e.subject)
		}
		e.filter = []string{subj}
	}
	e.entity = strings.TrimSpace(q.Get("entity"))
	if v := q.Get("since"); v != "" {
		if e.since, err = time.Parse(time.RFC3339, v); err != nil {
			return e, fmt.Errorf("since %q must be an RFC 3339 time, like 2026-01-02T15:04:05Z", v)
		}
	}
	return e, nil
}

// stream returns the app whose stream is name.
func (h *handler) stream(name string) (catalogue.App, error) {
	var names []string
	for _, a := range h.o.Catalogue {
		if a.Stream == name {
			return a, nil
		}
		names = append(names, a.Stream)
	}
	if name == "" {
		return catalogue.App{}, fmt.Errorf("stream is required: one of %s", strings.Join(names, ", "))
	}
	return catalogue.App{}, fmt.Errorf("unknown stream %q; the streams are %s", name, strings.Join(names, ", "))
}

// checkSubject reports why s is not a NATS subject pattern.
func checkSubject(s string) error {
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", s)
		case strings.ContainsAny(t, " \t\r\n"):
			return fmt.Errorf("subject %q must not contain white space", s)
		case t == ">" && i != len(tokens)-1:
			return fmt.Errorf("subject %q may have '>' only as its last token", s)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q may use '*' and '>' only as whole tokens", s)
		}
	}
	return nil
}

func (h *handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseEvents(r.URL.Query())
	if err != nil {
		code := http.StatusUnprocessableEntity
		if strings.HasPrefix(err.Error(), "unknown parameter") {
			code = http.StatusBadRequest
		}
		httpapi.WriteProblem(w, code, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	page, err := h.events(ctx, q)
	if err != nil {
		h.internalError(w, r, "read stream "+q.app.Stream, err)
		return
	}
	writeJSON(w, page)
}

// events reads q's page: it goes back from before in windows, each read
// forward, keeping the messages that pass q's filters, until it has
// q.limit of them, reaches the start, reaches one older than q.since or has
// read maxScan positions. Next is then the position to go on from.
func (h *handler) events(ctx context.Context, q eventQuery) (Events, error) {
	page := Events{Events: []Event{}}
	last, err := h.o.Bus.LastSeq(ctx, q.app.Stream)
	if err != nil {
		return page, err
	}
	top := last // the newest position still to read
	if q.before > 0 && q.before-1 < top {
		top = q.before - 1
	}
	size := uint64(window)
	for scanned := uint64(0); top >= 1 && scanned < maxScan; {
		n := min(size, maxScan-scanned, top)
		lo := top - n + 1
		msgs, err := h.o.Bus.Read(ctx, q.app.Stream, q.filter, lo, int(n))
		if err != nil {
			return page, err
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if m.Sequence > top {
				continue // a filtered read goes on past the window
			}
			if !q.since.IsZero() && m.Time.Before(q.since) {
				return page, nil // older than asked: nothing further back
			}
			e, ok := q.match(m)
			if !ok {
				continue
			}
			page.Events = append(page.Events, e)
			if len(page.Events) == q.limit {
				if m.Sequence > 1 {
					page.Next = m.Sequence
				}
				return page, nil
			}
		}
		scanned += n
		top = lo - 1
		if q.filter != nil {
			size *= 2
		}
	}
	if top >= 1 {
		page.Next = top + 1 // scanned maxScan positions: go on from here
	}
	return page, nil
}

// match decodes m and reports whether it passes q's type, subject and
// entity filters.
func (q eventQuery) match(m jetstream.Stored) (Event, bool) {
	e := toEvent(m)
	switch {
	case q.typ != "" && e.Type != q.typ,
		q.subject != "" && !catalogue.SubjectMatches(q.subject, m.Subject),
		q.entity != "" && e.Entity != q.entity:
		return e, false
	}
	return e, true
}

// toEvent decodes m's CloudEvent as far as it can: a message that is not
// one keeps its position, subject and bytes.
func toEvent(m jetstream.Stored) Event {
	e := Event{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Event: rawJSON(m.Data)}
	var env struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Subject string `json:"subject"`
	}
	if json.Unmarshal(m.Data, &env) == nil {
		e.ID, e.Type, e.Entity = env.ID, env.Type, env.Subject
	}
	return e
}

// serveEvent answers GET /api/events/{stream}/{seq}: one event.
func (h *handler) serveEvent(w http.ResponseWriter, r *http.Request) {
	app, err := h.stream(r.PathValue("stream"))
	if err != nil {
		httpapi.WriteProblem(w, http.StatusNotFound, err.Error())
		return
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		httpapi.WriteProblem(w, http.StatusUnprocessableEntity, fmt.Sprintf("position %q must be a positive integer", r.PathValue("seq")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readTimeout)
	defer cancel()
	msgs, err := h.o.Bus.Read(ctx, app.Stream, nil, seq, 1)
	if err != nil {
		h.internalError(w, r, "read stream "+app.Stream, err)
		return
	}
	if len(msgs) == 0 || msgs[0].Sequence != seq {
		httpapi.WriteProblem(w, http.StatusNotFound, fmt.Sprintf("stream %s holds no message at position %d", app.Stream, seq))
		return
	}
	writeJSON(w, toEvent(msgs[0]))
}
