package service

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

// Read your writes. A write answers, beside the ids of the events it
// committed (HeaderEventID), a consistency token naming them
// (HeaderToken). A read that passes the token back (HeaderAfter, or
// ?after=) on a service that consumes those events waits, at most
// HeaderWait or the server's maximum, until the service's read model has
// applied them, and answers with HeaderConsistency: fresh if it has,
// stale if the wait ran out. A read without a token answers at once.
const (
	HeaderEventID     = "Herald-Event-Id"    // on a write: the ids of the events it committed
	HeaderToken       = "Herald-Token"       // on a write: its consistency token
	HeaderAfter       = "Herald-After"       // on a read: the token(s) it must see
	HeaderWait        = "Herald-Wait"        // on a read: how long it may wait, a Go duration ("500ms")
	HeaderConsistency = "Herald-Consistency" // on a read with a token: fresh or stale

	Fresh = "fresh" // the answer includes every event the token names
	Stale = "stale" // the wait ran out: the answer may not include them yet
)

// Bounds of a read's wait.
const (
	DefaultWait = 2 * time.Second  // a read with a token and no HeaderWait
	MaxWait     = 10 * time.Second // Config.MaxWait's default
	recheck     = 50 * time.Millisecond
)

// Token returns the consistency token of events: one "<type>:<id>" per
// event, comma-separated, each part query-escaped.
func Token(events []outbox.EmittedEvent) string {
	var b strings.Builder
	for i, e := range events {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.QueryEscape(e.Type) + ":" + url.QueryEscape(e.ID))
	}
	return b.String()
}

// ParseToken returns the events a consistency token names.
func ParseToken(token string) ([]outbox.EmittedEvent, error) {
	var out []outbox.EmittedEvent
	for part := range strings.SplitSeq(token, ",") {
		part = strings.TrimSpace(part)
		typ, id, ok := strings.Cut(part, ":")
		if ok && strings.ContainsAny(part, "%+") {
			var err1, err2 error
			typ, err1 = url.QueryUnescape(typ)
			id, err2 = url.QueryUnescape(id)
			ok = err1 == nil && err2 == nil
		}
		ok = ok && typ != "" && id != ""
		if !ok {
			return nil, fmt.Errorf("%q is not a consistency token: pass the %s header of a write's answer, <type>:<event id>[,...]", part, HeaderToken)
		}
		out = append(out, outbox.EmittedEvent{Type: typ, ID: id})
	}
	if len(out) > 100 {
		return nil, fmt.Errorf("a consistency token names %d events; at most 100", len(out))
	}
	return out, nil
}

// freshness knows which events a service's read model has applied, and
// wakes the reads waiting for them. An event is applied once its
// transaction has committed and the projection's Committed hook has run
// (an in-memory view shows it): between the two it is "committing", and a
// read waits on, so that it never answers fresh from a view that lags its
// database.
type freshness struct {
	db    *sql.DB
	types map[string]bool // the event types the service's consumers apply

	mu         sync.RWMutex
	committing map[string]int
	waiters    map[string][]chan struct{}
	// The most recently applied ids, which the tokens of recent writes
	// name: a read finds them here without asking the database.
	recent     map[string]struct{}
	recentRing []string
	recentNext int
}

// recentIDs is how many applied ids freshness remembers (about 100 bytes
// each).
const recentIDs = 16_384

func newFreshness(db *sql.DB) *freshness {
	return &freshness{db: db, types: map[string]bool{}, committing: map[string]int{}, waiters: map[string][]chan struct{}{},
		recent: make(map[string]struct{}, recentIDs), recentRing: make([]string, recentIDs)}
}

// begin marks ids as committing.
func (f *freshness) begin(ids []string) {
	f.mu.Lock()
	for _, id := range ids {
		f.committing[id]++
	}
	f.mu.Unlock()
}

// end unmarks ids, whose transaction committed (applied) or failed, and
// wakes the reads waiting for them: they look again.
func (f *freshness) end(ids []string, applied bool) {
	f.mu.Lock()
	for _, id := range ids {
		if f.committing[id]--; f.committing[id] <= 0 {
			delete(f.committing, id)
		}
		if _, ok := f.recent[id]; applied && !ok {
			delete(f.recent, f.recentRing[f.recentNext])
			f.recentRing[f.recentNext] = id
			f.recent[id] = struct{}{}
			f.recentNext = (f.recentNext + 1) % len(f.recentRing)
		}
		for _, ch := range f.waiters[id] {
			close(ch)
		}
		delete(f.waiters, id)
	}
	f.mu.Unlock()
}

// wait waits until every event of want that the service consumes is
// applied, or until deadline. It reports whether they all are.
func (f *freshness) wait(ctx context.Context, want []outbox.EmittedEvent, deadline time.Time) (bool, error) {
	for _, e := range want {
		if !f.types[e.Type] {
			continue // this service never applies it: nothing to wait for
		}
		if f.seen(e.ID) {
			continue // the common case: a recent write, applied
		}
		for {
			ch := make(chan struct{})
			f.mu.Lock()
			busy := f.committing[e.ID] > 0
			if _, ok := f.recent[e.ID]; ok && !busy {
				f.mu.Unlock()
				break
			}
			f.waiters[e.ID] = append(f.waiters[e.ID], ch)
			f.mu.Unlock()
			if !busy {
				_, done, err := store.AppliedAt(ctx, f.db, e.ID)
				if err != nil {
					f.forget(e.ID, ch)
					return false, err
				}
				if done {
					f.forget(e.ID, ch)
					break
				}
			}
			left := time.Until(deadline)
			if left <= 0 {
				f.forget(e.ID, ch)
				return false, nil
			}
			// Look again when woken, and at least every recheck: another
			// instance sharing the database may apply it.
			t := time.NewTimer(min(left, recheck))
			select {
			case <-ch:
			case <-t.C:
				f.forget(e.ID, ch)
			case <-ctx.Done():
				t.Stop()
				f.forget(e.ID, ch)
				return false, ctx.Err()
			}
			t.Stop()
		}
	}
	return true, nil
}

// seen reports whether id is among the recently applied and not being
// applied again.
func (f *freshness) seen(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.recent[id]
	return ok && f.committing[id] == 0
}

func (f *freshness) forget(id string, ch chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ws := f.waiters[id]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(f.waiters, id)
	} else {
		f.waiters[id] = ws
	}
}

// readYourWrites serves h so that a request carrying a consistency token
// (HeaderAfter, or ?after=) waits for it first and answers
// HeaderConsistency: a read, to see its writes; and a write, to act on
// what an earlier write told another service (a comment on a post the
// comments service must have heard of). A write that waited in vain is
// served anyway, and says stale. Requests without a token pass straight
// through.
func (s *Service) readYourWrites(h http.Handler) http.Handler {
	maxWait := s.MaxWait
	if maxWait <= 0 {
		maxWait = MaxWait
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get(HeaderAfter)
		if token == "" && r.URL.RawQuery != "" {
			token = r.URL.Query().Get("after")
		}
		if token == "" {
			h.ServeHTTP(w, r)
			return
		}
		want, err := ParseToken(token)
		if err != nil {
			httpapi.WriteProblem(w, http.StatusBadRequest, err.Error())
			return
		}
		wait := min(DefaultWait, maxWait)
		if v := r.Header.Get(HeaderWait); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				httpapi.WriteProblem(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not a duration; pass one such as 500ms or 2s (at most %s)", HeaderWait, v, maxWait))
				return
			}
			wait = min(d, maxWait)
		}
		fresh, err := s.fresh.wait(r.Context(), want, time.Now().Add(wait))
		if err != nil && r.Context().Err() != nil {
			return // the client went away
		}
		if err != nil {
			s.Log.WarnContext(r.Context(), "cannot tell whether a read is fresh; answering it as stale", "err", err)
		}
		if fresh {
			w.Header().Set(HeaderConsistency, Fresh)
		} else {
			w.Header().Set(HeaderConsistency, Stale)
		}
		h.ServeHTTP(w, r)
	})
}

// answerWrites makes every write request answer HeaderEventID and
// HeaderToken for the events it committed (outbox.WithEmitted): the
// headers are set when the handler writes its status.
func answerWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		ctx, em := outbox.WithEmitted(r.Context())
		r2 := r.WithContext(ctx)
		h.ServeHTTP(&emittedWriter{ResponseWriter: w, em: em}, r2)
		r.Pattern = r2.Pattern // the route the mux chose: traceHTTP names the span after it
	})
}

type emittedWriter struct {
	http.ResponseWriter
	em    *outbox.Emitted
	wrote bool
}

func (w *emittedWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		if es := w.em.Events(); len(es) > 0 {
			ids := make([]string, len(es))
			for i, e := range es {
				ids[i] = e.ID
			}
			w.Header().Set(HeaderEventID, strings.Join(ids, ","))
			w.Header().Set(HeaderToken, Token(es))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *emittedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *emittedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *emittedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
