package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
)

// Headers of the /events answers, and the stored messages' shape header.
const (
	HeaderShape        = "Herald-Shape"         // on stored messages: shapeTutorial, shapeStructured or shapeBinary
	HeaderEventID      = "Herald-Event-Id"      // POST: the stored event's id
	HeaderPosition     = "Herald-Position"      // POST: the stored event's stream position
	HeaderLastPosition = "Herald-Last-Position" // GET: pass as ?after= to read what follows
)

// MaxLimit is the largest page GET /events serves.
const MaxLimit = 10000

const (
	readChunk      = 1000             // events per Read while answering GET /events
	pageBytes      = 8 << 20          // a page is cut short (with a next link) once its body reaches this size
	publishTimeout = 10 * time.Second // how long POST /events waits for the bus
	chunkWrite     = 30 * time.Second // write deadline granted per chunk of a streamed answer
)

// events serves POST and GET /events. It is safe for concurrent use.
type events struct {
	bus     *jetstream.Bus
	funnel  *jetstream.Funnel // POST /events' publishes, sent together while one is on its way
	reg     *event.Registry   // the types whose data is checked
	schemas schemas           // the JSON Schemas of reg's types' data
	log     *slog.Logger
	metrics *metrics
	tracer  trace.Tracer // the gateway's: a span per publish
	doors   *doors       // who may post which events
}

// post stores one event and answers 200 {"status":"OK"} only once the bus
// has acknowledged it (sent with the events of concurrent requests, as one
// atomic batch: see jetstream.Funnel), with its id (HeaderEventID) and stream position
// (HeaderPosition). A rejected event is never stored; a bus failure is a 503
// after which the event may or may not be stored: a CloudEvent retried with
// the same id within two minutes is stored once, a tutorial event (which
// gets a fresh id each time) may be stored twice.
func (ev *events) post(w http.ResponseWriter, r *http.Request) {
	in, err := decode(r, ev.reg, ev.schemas)
	if err != nil {
		var rej *rejection
		if !errors.As(err, &rej) {
			rej = reject(http.StatusInternalServerError, "internal error; the server logged the details")
			ev.log.Error("decode event", "err", err)
		}
		rej.write(w)
		return
	}
	if f := ev.doors.mayPost(r, in.env.Type); f != nil {
		ev.metrics.refused.WithLabelValues(strconv.Itoa(f.status)).Inc()
		f.write(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	defer cancel()
	subject := event.BlogSubject(in.env.Type)
	ctx, span := ev.tracer.Start(ctx, "send "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(observe.PublishAttrs(subject, in.env.ID), observe.AttrEventType.String(in.env.Type))...))
	header := map[string]string{HeaderShape: in.shape}
	if tp := observe.TraceParent(ctx); tp != "" {
		header[jetstream.HeaderTraceParent] = tp
	}
	seq, err := ev.funnel.Publish(ctx, subject, in.env.ID, header, in.stored)
	if err == nil {
		span.SetAttributes(observe.AttrStream.String(event.BlogStream), observe.AttrSequence.Int64(int64(seq)))
	}
	observe.End(span, err)
	if errors.Is(err, bus.ErrStreamFull) {
		ev.log.Error("blog stream full: event refused", "type", in.env.Type, "id", in.env.ID, "err", err)
		httpapi.WriteProblem(w, http.StatusServiceUnavailable,
			"the blog's event stream ("+event.BlogStream+") is full and refuses new events; nothing was stored. An operator must raise its storage limit")
		return
	}
	if err != nil {
		ev.log.Warn("publish failed", "type", in.env.Type, "id", in.env.ID, "err", err)
		w.Header().Set("Retry-After", "1")
		httpapi.WriteProblem(w, http.StatusServiceUnavailable,
			"the event bus did not confirm storing the event, so it may or may not be stored; retry shortly (a CloudEvent retried with the same id is stored once)")
		return
	}
	ev.metrics.accepted.WithLabelValues(in.shape).Inc()
	w.Header().Set(HeaderEventID, in.env.ID)
	w.Header().Set(HeaderPosition, strconv.FormatUint(seq, 10))
	w.Header().Set(service.HeaderToken, service.Token([]outbox.EmittedEvent{{ID: in.env.ID, Type: in.env.Type}}))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"OK"}` + "\n"))
}

// page is what GET /events was asked for.
type page struct {
	after uint64 // answer events after this stream position
	limit int    // at most this many; 0 means all
}

func parsePage(r *http.Request) (page, *rejection) {
	var p page
	q := r.URL.Query()
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return p, reject(http.StatusBadRequest, "after=%q is not a stream position: pass a whole number, such as the %s of an earlier answer", s, HeaderLastPosition)
		}
		p.after = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return p, reject(http.StatusBadRequest, "limit=%q is not a whole number", s)
		}
		if n < 1 || n > MaxLimit {
			return p, reject(http.StatusUnprocessableEntity, "limit=%d is out of range: ask for 1 to %d events a page, or leave limit out for all", n, MaxLimit)
		}
		p.limit = n
	}
	return p, nil
}

// get answers a JSON array of blog events in stream order, each in the shape
// it was posted in. Without limit it streams every event up to the stream's
// end when the request came, and HeaderLastPosition is that end. With limit
// it answers one page, HeaderLastPosition is its last event's position (or
// after, for an empty page), and a full page (limit events, or cut short at
// 8 MiB) carries a Link to the next. A bus failure before the first byte is a
// 503; after it, the connection is aborted so that a client never mistakes
// a cut answer for the whole history.
func (ev *events) get(w http.ResponseWriter, r *http.Request) {
	if f := ev.doors.mayRead(r); f != nil {
		f.write(w)
		return
	}
	p, rej := parsePage(r)
	if rej != nil {
		httpapi.WriteProblem(w, rej.status, rej.detail)
		return
	}
	if p.limit > 0 {
		ev.getPage(w, r, p)
		return
	}
	ev.getAll(w, r, p)
}

func (ev *events) unavailable(w http.ResponseWriter, err error) {
	ev.log.Warn("read blog events", "err", err)
	w.Header().Set("Retry-After", "1")
	httpapi.WriteProblem(w, http.StatusServiceUnavailable, "the event bus cannot be read right now; retry shortly")
}

func (ev *events) read(ctx context.Context, from uint64, n int) ([]jetstream.Stored, error) {
	return ev.bus.Read(ctx, event.BlogStream, []string{event.BlogEventSubjects}, from, n)
}

func (ev *events) getAll(w http.ResponseWriter, r *http.Request, p page) {
	ctx := r.Context()
	end, err := ev.bus.LastSeq(ctx, event.BlogStream)
	if err != nil {
		ev.unavailable(w, err)
		return
	}
	end = max(end, p.after)
	var msgs []jetstream.Stored
	if end > p.after {
		if msgs, err = ev.read(ctx, p.after+1, readChunk); err != nil {
			ev.unavailable(w, err)
			return
		}
	}
	w.Header().Set(HeaderLastPosition, strconv.FormatUint(end, 10))
	w.Header().Set("Content-Type", "application/json")
	rc := http.NewResponseController(w)
	sep := []byte("[")
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(chunkWrite))
		for _, m := range msgs {
			if m.Sequence > end {
				break
			}
			w.Write(sep)
			w.Write(render(m))
			sep = []byte(",\n")
		}
		if len(msgs) < readChunk || msgs[len(msgs)-1].Sequence >= end {
			break
		}
		if msgs, err = ev.read(ctx, msgs[len(msgs)-1].Sequence+1, readChunk); err != nil {
			ev.log.Warn("read blog events mid-answer; aborting it", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	if sep[0] == '[' {
		w.Write(sep)
	}
	w.Write([]byte("]\n"))
}

func (ev *events) getPage(w http.ResponseWriter, r *http.Request, p page) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	count, last, full := 0, p.after, false
	for !full && count < p.limit {
		n := min(readChunk, p.limit-count)
		msgs, err := ev.read(r.Context(), last+1, n)
		if err != nil {
			ev.unavailable(w, err)
			return
		}
		for _, m := range msgs {
			if count > 0 {
				buf.WriteString(",\n")
			}
			buf.Write(render(m))
			count, last = count+1, m.Sequence
			if buf.Len() >= pageBytes {
				break
			}
		}
		full = count == p.limit || buf.Len() >= pageBytes
		if len(msgs) < n {
			break
		}
	}
	buf.WriteString("]\n")
	w.Header().Set(HeaderLastPosition, strconv.FormatUint(last, 10))
	if full {
		w.Header().Set("Link", fmt.Sprintf(`</events?after=%d&limit=%d>; rel="next"`, last, p.limit))
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
}

// render returns a stored event in the shape it was posted in: {type, data}
// for a tutorial event, the stored CloudEvent for any other.
func render(m jetstream.Stored) []byte {
	if firstHeader(m.Header, HeaderShape) != shapeTutorial {
		return m.Data
	}
	var t struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(m.Data, &t); err != nil {
		return m.Data
	}
	out, err := json.Marshal(t)
	if err != nil {
		return m.Data
	}
	return out
}

func writeProblem(w http.ResponseWriter, status int, detail string) {
	httpapi.WriteProblem(w, status, detail)
}
