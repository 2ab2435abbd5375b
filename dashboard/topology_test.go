package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/shop"
)

func TestTopologyShowsAStoppedServiceDownWhileTheQueryAnswers(t *testing.T) {
	sys := newSystem(t, shop.Services...)
	url := serve(t, sys.options())

	var top Topology
	testenv.Eventually(t, 10*time.Second, func() error {
		top = Topology{}
		call(t, "GET", url+"/api/topology", "", nil, &top)
		for _, name := range shop.Services {
			if s, ok := serviceIn(top, name); !ok || !s.Up || !s.Ready {
				return fmt.Errorf("%s not up and ready: %+v", name, s)
			}
		}
		return nil
	})
	if len(top.Apps) != 1 || top.Apps[0].Stream != shop.Stream || top.Apps[0].Subjects != shop.StreamSubjects {
		t.Fatalf("apps: %+v", top.Apps)
	}
	q, _ := serviceIn(top, "query")
	if len(q.Consumes) == 0 || q.Consumes[0].Durable == "" || len(q.Consumes[0].Subjects) == 0 || q.Store == "" {
		t.Fatalf("query: %+v", q)
	}
	p, _ := serviceIn(top, "products")
	if len(p.Publishes) == 0 || p.Relay == nil || p.Controllable {
		t.Fatalf("products: %+v", p)
	}

	// A product written now moves the query's ack floor.
	code, body := call(t, "POST", url+"/api/proxy/products/products", "", map[string]string{"title": "Pen", "image": "pen.png"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("create product through the proxy: %d %s", code, body)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		top = Topology{}
		call(t, "GET", url+"/api/topology", "", nil, &top)
		q, _ := serviceIn(top, "query")
		if top.Apps[0].LastSeq == 0 || q.Consumes[0].AckFloor < top.Apps[0].LastSeq {
			return fmt.Errorf("last seq %d, query at %d", top.Apps[0].LastSeq, q.Consumes[0].AckFloor)
		}
		return nil
	})

	sys.svcs["products"].MustStop()
	testenv.Eventually(t, 10*time.Second, func() error {
		top = Topology{}
		call(t, "GET", url+"/api/topology", "", nil, &top)
		p, _ := serviceIn(top, "products")
		if p.Up || p.Error == "" || p.Running {
			return fmt.Errorf("products still shown up: %+v", p)
		}
		if q, _ := serviceIn(top, "query"); !q.Up {
			return fmt.Errorf("query down: %+v", q)
		}
		return nil
	})
	if p, _ := serviceIn(top, "products"); p.Relay != nil || p.Publishes == nil {
		t.Fatalf("a down products: %+v", p)
	}
	// A stopped consumer's progress is read from the bus instead: its
	// pending messages keep counting while it is down.
	sys.svcs["orders"].MustStop()
	testenv.Eventually(t, 10*time.Second, func() error {
		top = Topology{}
		call(t, "GET", url+"/api/topology", "", nil, &top)
		o, _ := serviceIn(top, "orders")
		if o.Up {
			return errors.New("orders still up")
		}
		if len(o.Consumes) == 0 || o.Consumes[0].Durable == "" || o.Consumes[0].Error != "" {
			return fmt.Errorf("orders' consumers not read from the bus: %+v", o.Consumes)
		}
		return nil
	})
}

func TestEventsPerSecondFollowsTheAckFloor(t *testing.T) {
	r := newRates(10 * time.Millisecond)
	t0 := time.Now()
	if got := r.of("c", 100, t0); got != 0 {
		t.Fatalf("first snapshot: %v, want 0", got)
	}
	if got := r.of("c", 300, t0.Add(2*time.Second)); got != 100 {
		t.Fatalf("200 positions in 2s: %v, want 100", got)
	}
	if got := r.of("c", 900, t0.Add(2*time.Second+time.Millisecond)); got != 100 {
		t.Fatalf("a snapshot 1ms later: %v, want the previous rate 100", got)
	}
	if got := r.of("c", 5, t0.Add(3*time.Second)); got != 0 {
		t.Fatalf("a floor that went back: %v, want 0", got)
	}
}

func TestLiveSendsTopologyUntilTheLastClientLeaves(t *testing.T) {
	sys := newSystem(t, "users")
	h, err := newHandler(sys.options())
	if err != nil {
		t.Fatal(err)
	}
	mux, err := h.routes()
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, mux)

	if on, polls := h.hub.running(); on || polls != 0 {
		t.Fatalf("polling with no client: running %v, %d polls", on, polls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv+"/api/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 0; n < 2; {
		if !sc.Scan() {
			t.Fatalf("stream ended after %d events: %v", n, sc.Err())
		}
		if sc.Text() != "event: topology" {
			t.Fatalf("line %q, want an event line", sc.Text())
		}
		if !sc.Scan() {
			t.Fatal(sc.Err())
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			t.Fatalf("line %q, want data", sc.Text())
		}
		var top Topology
		if err := json.Unmarshal([]byte(data), &top); err != nil {
			t.Fatal(err)
		}
		if u, ok := serviceIn(top, "users"); !ok || !u.Up {
			t.Fatalf("users not up in %s", data)
		}
		if sc.Scan(); sc.Text() != "" {
			t.Fatalf("line %q, want the blank line ending an event", sc.Text())
		}
		n++
	}
	cancel()
	resp.Body.Close()
	testenv.Eventually(t, 10*time.Second, func() error {
		if on, _ := h.hub.running(); on {
			return errors.New("still polling with no client")
		}
		return nil
	})
	_, polls := h.hub.running()
	if polls < 2 {
		t.Fatalf("%d polls for two events", polls)
	}
}

func TestLiveOutlivesTheServersTimeouts(t *testing.T) {
	sys := newSystem(t)
	h, err := New(sys.options())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	start, events := time.Now(), 0
	for time.Since(start) < 500*time.Millisecond {
		if !sc.Scan() {
			t.Fatalf("stream ended after %s and %d events: %v", time.Since(start), events, sc.Err())
		}
		if sc.Text() == "event: topology" {
			events++
		}
	}
}

// fakeControl is a Controller that records what it was asked.
type fakeControl struct {
	mu      sync.Mutex
	stopped map[string]bool
}

func (f *fakeControl) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[name] = true
	return nil
}

func (f *fakeControl) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.stopped, name)
	return nil
}

func (f *fakeControl) Running(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.stopped[name]
}

func TestStopAndStartAServiceFromTheDashboard(t *testing.T) {
	sys := newSystem(t)
	none := serve(t, sys.options())
	wantProblem(t, http.StatusNotFound, "POST", none+"/api/services/products/stop", "", nil)

	o := sys.options()
	o.Control = &fakeControl{stopped: map[string]bool{}}
	url := serve(t, o)
	wantProblem(t, http.StatusNotFound, "POST", url+"/api/services/nope/stop", "", nil)
	wantProblem(t, http.StatusNotFound, "POST", url+"/api/services/products/pause", "", nil)
	wantProblem(t, http.StatusMethodNotAllowed, "GET", url+"/api/services/products/stop", "", nil)

	var got ServiceRunning
	if code, body := call(t, "POST", url+"/api/services/products/stop", "", nil, &got); code != 200 || got != (ServiceRunning{"products", false}) {
		t.Fatalf("stop: %d %s", code, body)
	}
	var top Topology
	call(t, "GET", url+"/api/topology", "", nil, &top)
	if p, _ := serviceIn(top, "products"); !p.Controllable || p.Running {
		t.Fatalf("stopped products: %+v", p)
	}
	if code, body := call(t, "POST", url+"/api/services/products/start", "", nil, &got); code != 200 || got != (ServiceRunning{"products", true}) {
		t.Fatalf("start: %d %s", code, body)
	}
}

func TestProxyRefusesOperatorRoutes(t *testing.T) {
	sys := newSystem(t, "products")
	url := serve(t, sys.options())
	for _, p := range []string{"metrics", "status", "journey?id=x", "debug/pprof/", "debug", "x/../metrics", "metrics/", "generation", "generation/switch"} {
		t.Run(p, func(t *testing.T) {
			code, body := call(t, "GET", url+"/api/proxy/products/"+p, "", nil, nil)
			if code != http.StatusForbidden && code != http.StatusMovedPermanently {
				t.Fatalf("%s: %d %s, want 403", p, code, body)
			}
			if code == http.StatusForbidden {
				mustProblem(t, http.StatusForbidden, code, body)
			}
		})
	}
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/proxy/nope/products/1", "", nil)
	// An API path passes, with the service's own answer.
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/proxy/products/products/12345", "", nil)
	var p struct {
		ID    int64  `json:"id"`
		Title string `json:"title"`
	}
	req, _ := http.NewRequest("POST", url+"/api/proxy/products/products", strings.NewReader(`{"title":"Ink","image":"ink.png"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", "secret=1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusCreated || p.Title != "Ink" {
		t.Fatalf("create: %d %+v %v", resp.StatusCode, p, err)
	}
	if loc := resp.Header.Get("Location"); loc == "" {
		t.Fatal("no Location passed back")
	}
	code, body := call(t, "GET", url+"/api/proxy/products/products/"+fmt.Sprint(p.ID), "", nil, &p)
	if code != 200 || p.Title != "Ink" {
		t.Fatalf("get: %d %s", code, body)
	}
	// A down service is a 502 problem.
	sys.svcs["products"].MustStop()
	wantProblem(t, http.StatusBadGateway, "GET", url+"/api/proxy/products/products/1", "", nil)
}

func TestPagesAndUnknownRoutes(t *testing.T) {
	sys := newSystem(t)
	url := serve(t, sys.options())
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/nope", "", nil)
	wantProblem(t, http.StatusMethodNotAllowed, "DELETE", url+"/api/topology", "", nil)
	wantProblem(t, http.StatusMethodNotAllowed, "POST", url+"/", "", nil)
}

func TestJourneyOfAnEvent(t *testing.T) {
	sys := newSystem(t, shop.Services...)
	url := serve(t, sys.options())
	code, body := call(t, "POST", url+"/api/proxy/products/products", "", map[string]string{"title": "Cup", "image": "cup.png"}, nil)
	if code != http.StatusCreated {
		t.Fatalf("%d %s", code, body)
	}
	var page Events
	testenv.Eventually(t, 10*time.Second, func() error {
		call(t, "GET", url+"/api/events?stream=SHOP&type=shop.product.created.v2", "", nil, &page)
		if len(page.Events) != 1 {
			return fmt.Errorf("%d events", len(page.Events))
		}
		return nil
	})
	id := page.Events[0].ID
	testenv.Eventually(t, 10*time.Second, func() error {
		var j struct {
			Event     struct{ ID string }
			Consumers []struct {
				Service, Consumer, Outcome string
			}
		}
		if code, body := call(t, "GET", url+"/api/journey/"+id, "", nil, &j); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		if j.Event.ID != id {
			return fmt.Errorf("journey of %q", j.Event.ID)
		}
		for _, c := range j.Consumers {
			if c.Service == "query" && c.Outcome == "applied" {
				return nil
			}
		}
		return fmt.Errorf("query has not applied it: %+v", j.Consumers)
	})
	wantProblem(t, http.StatusNotFound, "GET", url+"/api/journey/0190aaaa-0000-7000-8000-000000000000", "", nil)
}
