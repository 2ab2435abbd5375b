package dashboard_test

// The fake backend of the browser tests: the pages in static/ served next
// to fakeAPI, which answers /api with canned data in the backend's JSON
// shapes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/observe"
)

// startDashboard serves the pages over the fake API for one test and
// returns the base URL. To run a test against the real backend instead,
// call startRealDashboard(t).url (dashboard.New over a running shop and
// blog, Auth on; sign in with its operator token).
func startDashboard(t *testing.T) string {
	t.Helper()
	f := newFakeAPI()
	mux := http.NewServeMux()
	mux.Handle("/api/", f)
	mux.Handle("/", http.FileServerFS(os.DirFS("static")))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeAPI answers /api like the dashboard backend, with canned data: a
// shop whose products service is down, a consumer with two dead letters,
// and services that behave like the shop's and the blog's.
type fakeAPI struct {
	mu       sync.Mutex
	stopped  map[string]bool // by the operator
	crashed  map[string]bool // down on their own
	dlq      []map[string]any
	comments []map[string]any
	postID   string
	reads    int // blog-query reads since the last comment
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{stopped: map[string]bool{}, crashed: map[string]bool{"products": true}}
	for i := 1; i <= 2; i++ {
		f.dlq = append(f.dlq, map[string]any{
			"seq": i, "consumer": "shop-query", "stream": "SHOP", "subject": "shop.orders.created", "type": "shop.order.created.v1",
			"error": "query: apply order " + strconv.Itoa(40+i) + ": unknown product 99", "attempts": 5,
			"failedAt": "2026-12-06T22:0" + strconv.Itoa(i) + ":00Z", "id": eventID(40 + i), "sequence": 40 + i,
			"event": map[string]any{"specversion": "1.0", "id": eventID(40 + i), "type": "shop.order.created.v1"},
		})
	}
	return f
}

func eventID(n int) string { return fmt.Sprintf("019aa8f0-0000-7000-8000-%012d", n) }

func (f *fakeAPI) topology() map[string]any {
	f.mu.Lock()
	stopped, crashed := map[string]bool{}, map[string]bool{}
	for k, v := range f.stopped {
		stopped[k] = v
	}
	for k, v := range f.crashed {
		crashed[k] = v
	}
	dead := len(f.dlq)
	f.mu.Unlock()
	consumer := func(durable string, rate float64, pending, dead int) map[string]any {
		return map[string]any{"durable": durable, "subjects": []string{"shop.>"}, "pending": pending, "ackPending": 0,
			"deadLettered": dead, "lagSeconds": float64(pending) * 0.2, "ackFloor": 120, "eventsPerSecond": rate}
	}
	svc := func(name, store string, publishes []string, consumes []map[string]any, relay bool) map[string]any {
		up := !stopped[name] && !crashed[name]
		m := map[string]any{"name": name, "url": "http://127.0.0.1:8081", "up": up, "ready": up, "store": store, "publishes": publishes,
			"readModel": publishes == nil, "consumes": consumes, "relay": nil, "controllable": true, "running": !stopped[name]}
		if publishes == nil {
			m["publishes"] = []string{}
		}
		if !up {
			m["store"], m["error"] = "", "Get \"http://127.0.0.1:8082/status\": connect: connection refused"
		}
		if relay && up {
			m["relay"] = map[string]any{"depth": 0, "oldestSeconds": 0, "published": 120}
		}
		if consumes == nil {
			m["consumes"] = []any{}
		}
		return m
	}
	return map[string]any{"apps": []any{
		map[string]any{"name": "shop", "stream": "SHOP", "subjects": "shop.>", "lastSeq": 120,
			"services": []any{
				svc("users", "sqlite", []string{"shop.user.created.v1"}, nil, true),
				svc("products", "sqlite", []string{"shop.product.created.v1", "shop.product.updated.v1"}, nil, true),
				svc("orders", "sqlite", []string{"shop.order.created.v1", "shop.order.cancelled.v1"}, []map[string]any{consumer("orders-products", 1.5, 0, 0)}, true),
				svc("query", "sqlite", nil, []map[string]any{consumer("shop-query", 4.2, 3, dead)}, false),
			}},
		map[string]any{"name": "blog", "stream": "BLOG", "subjects": "blog.>", "lastSeq": 30,
			"services": []any{
				svc("posts", "sqlite", []string{"blog.post.created.v1"}, nil, true),
				svc("comments", "sqlite", []string{"blog.comment.created.v1", "blog.comment.updated.v1"}, []map[string]any{consumer("comments-moderation", 0.2, 0, 0)}, true),
				svc("moderation", "none", []string{"blog.comment.moderated.v1"}, []map[string]any{consumer("moderation", 0.2, 0, 0)}, false),
				svc("blog-query", "sqlite", nil, []map[string]any{consumer("blog-query", 0.6, 0, 0)}, false),
			}},
	}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/api")
	switch {
	case p == "/topology":
		writeJSON(w, 200, f.topology())
	case p == "/live":
		f.live(w, r)
	case strings.HasPrefix(p, "/services/") && r.Method == http.MethodPost:
		if bearer(r) != adminToken {
			problem(w, 401, "the admin token is missing or wrong")
			return
		}
		parts := strings.Split(strings.TrimPrefix(p, "/services/"), "/")
		f.mu.Lock()
		f.stopped[parts[0]] = len(parts) > 1 && parts[1] == "stop"
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"name": parts[0], "running": parts[1] == "start"}) // as dashboard.New answers
	case p == "/events":
		f.events(w, r)
	case strings.HasPrefix(p, "/journey/"):
		f.journey(w, strings.TrimPrefix(p, "/journey/"))
	case p == "/dlq":
		f.mu.Lock()
		dl := append([]map[string]any{}, f.dlq...)
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"deadLetters": dl})
	case p == "/dlq/redrive":
		if bearer(r) != adminToken {
			problem(w, 401, "the admin token is missing or wrong")
			return
		}
		f.redrive(w, r)
	case p == "/dlq/discard":
		if bearer(r) != adminToken {
			problem(w, 401, "the admin token is missing or wrong")
			return
		}
		var in struct{ Seqs []int }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			problem(w, 400, err.Error())
			return
		}
		f.mu.Lock()
		var keep []map[string]any
		var done []int
		for _, d := range f.dlq {
			if containsInt(in.Seqs, d["seq"].(int)) {
				done = append(done, d["seq"].(int))
			} else {
				keep = append(keep, d)
			}
		}
		f.dlq = keep
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{"done": done, "failed": []any{}})
	case strings.HasPrefix(p, "/proxy/"):
		f.proxy(w, r, strings.TrimPrefix(p, "/proxy"))
	default:
		problem(w, 404, "no such API: "+r.URL.Path)
	}
}

// redrive answers POST /api/dlq/redrive as the backend does: the plan
// (every named letter redriven, at most max), carried out unless dryRun.
func (f *fakeAPI) redrive(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Seqs   []int
		Max    int
		DryRun bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, 400, err.Error())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var keep []map[string]any
	decisions, done, skipped := []map[string]any{}, []int{}, []int{}
	for _, d := range f.dlq {
		seq := d["seq"].(int)
		if !containsInt(in.Seqs, seq) {
			keep = append(keep, d)
			continue
		}
		dec := map[string]any{"seq": seq, "consumer": d["consumer"], "service": "query", "type": "shop.order.created.v1",
			"eventId": d["id"], "action": "redrive", "reason": "query has not applied it"}
		if in.Max > 0 && len(done) >= in.Max {
			dec["action"], dec["reason"] = "over-max", fmt.Sprintf("left in the dead letters: the max of %d is reached", in.Max)
			skipped = append(skipped, seq)
			keep = append(keep, d)
		} else {
			done = append(done, seq)
			if in.DryRun {
				keep = append(keep, d)
			}
		}
		decisions = append(decisions, dec)
	}
	f.dlq = keep
	writeJSON(w, 200, map[string]any{"dryRun": in.DryRun, "decisions": decisions, "done": done, "failed": []any{}, "skipped": skipped})
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// live streams the topology every second, as the backend's SSE does.
func (f *fakeAPI) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl, _ := w.(http.Flusher)
	tick := time.NewTicker(200 * time.Millisecond) // faster than the backend: the tests wait for it
	defer tick.Stop()
	for {
		b, _ := json.Marshal(f.topology())
		if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", b); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// events pages through a stream of 120 events, 50 at a time.
func (f *fakeAPI) events(w http.ResponseWriter, r *http.Request) {
	before, _ := strconv.Atoi(r.URL.Query().Get("before"))
	if before == 0 {
		before = 121
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	var evs []map[string]any
	seq := before - 1
	for ; seq >= 1 && len(evs) < limit; seq-- {
		evs = append(evs, map[string]any{
			"seq": seq, "subject": "shop.orders.created", "time": time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
			"id": eventID(seq), "type": "shop.order.created.v1", "entity": strconv.Itoa(seq),
		})
	}
	next := 0 // none older
	if seq >= 1 {
		next = seq + 1
	}
	writeJSON(w, 200, map[string]any{"events": evs, "next": next})
}

// journey answers with a real journey.Journey, so the JSON has the
// backend's tags.
func (f *fakeAPI) journey(w http.ResponseWriter, id string) {
	t0 := time.Date(2026, 12, 6, 22, 1, 0, 0, time.UTC)
	ce, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "type": "shop.order.created.v1", "source": "herald/orders",
		"subject": "42", "time": t0, "data": map[string]any{"orderId": 42, "userId": 7, "productId": 3}})
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	span := func(id, parent, svc, name string, from, to time.Duration, err string) observe.Span {
		return observe.Span{TraceID: trace, SpanID: id, ParentID: parent, Service: svc, Name: name, Kind: "internal",
			Start: t0.Add(from), End: t0.Add(to), Error: err}
	}
	j := journey.Journey{
		Event:     &journey.Event{ID: id, Type: "shop.order.created.v1", Source: "herald/orders", Subject: "shop.orders.created", Entity: "42", Time: t0, Data: ce},
		TraceID:   trace,
		Committed: &journey.Step{Service: "orders", At: t0},
		Published: &journey.Published{Stream: "SHOP", Sequence: 120, At: t0.Add(3 * time.Millisecond), After: 3 * time.Millisecond},
		Consumers: []journey.Consumer{
			{Service: "query", Consumer: "shop-query", Outcome: journey.Applied, At: t0.Add(9 * time.Millisecond), After: 9 * time.Millisecond, Attempt: 1},
			{Service: "orders", Consumer: "orders-audit", Outcome: journey.DeadLettered, At: t0.Add(40 * time.Millisecond), After: 40 * time.Millisecond, Attempt: 5, Error: "audit: disk full", DLQSeq: 1},
			{Service: "users", Consumer: "users-stats", Outcome: journey.Pending, Waiting: 3, AckFloor: 117},
		},
		Spans: []observe.Span{
			span("a1", "", "orders", "POST /orders", 0, 5*time.Millisecond, ""),
			span("a2", "a1", "orders", "outbox.commit", time.Millisecond, 2*time.Millisecond, ""),
			span("a3", "a1", "orders", "relay.publish SHOP", 2500*time.Microsecond, 3*time.Millisecond, ""),
			span("b1", "a3", "query", "consume shop-query", 6*time.Millisecond, 9*time.Millisecond, ""),
			span("c1", "a3", "orders", "consume orders-audit", 10*time.Millisecond, 40*time.Millisecond, "audit: disk full"),
		},
	}
	writeJSON(w, 200, j)
}

// proxy stands in for the services' own APIs.
func (f *fakeAPI) proxy(w http.ResponseWriter, r *http.Request, p string) {
	var body map[string]any
	if r.Body != nil {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			problem(w, 400, err.Error())
			return
		}
	}
	switch {
	case r.Method == "POST" && p == "/users/users":
		writeJSON(w, 201, map[string]any{"id": 7, "name": body["name"], "email": body["email"], "version": 1})
	case r.Method == "POST" && p == "/users/sessions":
		writeJSON(w, 201, map[string]any{"token": userToken, "tokenType": "Bearer", "userId": 7, "role": "user", "expiresAt": time.Now().Add(time.Hour)})
	case r.Method == "POST" && p == "/products/products":
		if bearer(r) != adminToken {
			problem(w, 403, "adding a product needs the admin token")
			return
		}
		writeJSON(w, 201, map[string]any{"id": 3, "title": body["title"], "image": body["image"], "version": 1})
	case r.Method == "POST" && p == "/orders/orders":
		if bearer(r) != userToken {
			problem(w, 401, "sign in first")
			return
		}
		w.Header().Set("Herald-Token", orderToken)
		w.Header().Set("Herald-Event-Id", eventID(120))
		writeJSON(w, 201, map[string]any{"id": 42, "userId": body["userId"], "productId": body["productId"], "status": "placed", "version": 1})
	case r.Method == "GET" && p == "/query/users/7/products":
		if bearer(r) != userToken {
			problem(w, 401, "sign in first")
			return
		}
		if r.Header.Get("Herald-After") == orderToken {
			w.Header().Set("Herald-Consistency", "fresh")
		}
		writeJSON(w, 200, []any{map[string]any{"id": 3, "title": fixture.orderedTitle, "image": "teapot.jpg"}})
	case r.Method == "POST" && p == "/posts/posts":
		f.mu.Lock()
		f.postID = "019aa8f1-0000-7000-8000-000000000001"
		f.mu.Unlock()
		writeJSON(w, 201, map[string]any{"id": f.postID, "title": body["title"]})
	case r.Method == "POST" && strings.HasPrefix(p, "/comments/posts/"):
		c := map[string]any{"id": "019aa8f2-0000-7000-8000-000000000001", "content": body["content"], "status": "pending"}
		f.mu.Lock()
		f.comments = append(f.comments, c)
		f.reads = 0
		f.mu.Unlock()
		writeJSON(w, 201, c)
	case r.Method == "GET" && p == "/blog-query/posts":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.postID == "" {
			writeJSON(w, 200, map[string]any{})
			return
		}
		f.reads++
		var cs []map[string]any
		for _, c := range f.comments {
			c2 := map[string]any{"id": c["id"], "content": c["content"], "status": "pending"}
			if f.reads > 2 { // moderation decides after a couple of reads
				if strings.Contains(fmt.Sprint(c["content"]), fixture.rejectedWord) {
					c2["status"] = "rejected"
				} else {
					c2["status"] = "approved"
				}
			}
			cs = append(cs, c2)
		}
		if cs == nil {
			cs = []map[string]any{}
		}
		writeJSON(w, 200, map[string]any{f.postID: map[string]any{"id": f.postID, "title": "Hello, Herald", "comments": cs}})
	default:
		problem(w, 404, "the fake has no "+r.Method+" "+p)
	}
}
