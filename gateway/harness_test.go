package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
)

// env is a gateway under test: a real embedded NATS JetStream server and a
// real SQLite database in a temp dir, the gateway on a random loopback port.
type env struct {
	t   *testing.T
	dir string
	cfg gateway.Config
	js  *testenv.NATS
	nc  *nats.Conn     // js.Conn
	bus *jetstream.Bus // js.Bus
	gw  *service.Service
}

// fast are delivery settings that keep retries quick in tests, for a
// gateway that, like the tutorial's bus, takes the blog's four types from
// outside: their owners run outside Herald.
func fast(c *gateway.Config) {
	c.External = []string{event.PostCreated, event.CommentCreated, event.CommentModerated, event.CommentUpdated}
	c.Timeout = 2 * time.Second
	c.MaxDeliver = 1000
	c.Backoff = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}
}

// newEnv starts NATS and a gateway configured by fast and then opts.
func newEnv(t *testing.T, opts ...func(*gateway.Config)) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	fast(&e.cfg)
	for _, o := range opts {
		o(&e.cfg)
	}
	e.startNATS()
	e.startGateway()
	t.Cleanup(func() {
		e.stopGateway()
		e.stopNATS()
	})
	return e
}

// startNATS starts NATS on e.dir/nats. It is stopped by stopNATS, not by
// the test's cleanup: the gateway must stop first, and restart starts NATS
// again.
func (e *env) startNATS() {
	e.t.Helper()
	e.js = testenv.StartNATS(e.t, filepath.Join(e.dir, "nats"), testenv.Stream{Name: event.BlogStream, Subjects: []string{event.BlogSubjects}})
	e.nc, e.bus = e.js.Conn, e.js.Bus
}

func (e *env) stopNATS() {
	if e.js != nil {
		e.js.Close()
		e.js = nil
	}
}

func (e *env) startGateway() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	gw, err := build(ctx, e.dir, e.cfg, e.bus)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := gw.Start(ctx, e.bus); err != nil {
		e.t.Fatal(err)
	}
	e.gw = gw
}

// build builds the gateway as the blog's catalogue does, with cfg and its
// database in dir, on a random loopback port.
func build(ctx context.Context, dir string, cfg gateway.Config, b *jetstream.Bus) (*service.Service, error) {
	return blog.Build(ctx, gateway.Name, blog.Config{Config: service.Config{DataDir: dir, Addr: "127.0.0.1:0"}, Gateway: cfg}, b)
}

func (e *env) stopGateway() {
	if e.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.gw.Stop(ctx); err != nil {
			e.t.Error(err)
		}
		e.gw = nil
	}
}

// restart stops the gateway, restarts NATS on the same storage and builds
// the gateway again on the same data dir.
func (e *env) restart() {
	e.t.Helper()
	e.stopGateway()
	e.stopNATS()
	e.startNATS()
	e.startGateway()
}

func (e *env) url(path string) string { return e.gw.URL() + path }

// lastSeq returns the BLOG stream's last position.
func (e *env) lastSeq() uint64 {
	e.t.Helper()
	n, err := e.bus.LastSeq(context.Background(), event.BlogStream)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// answer is an HTTP answer.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.code, a.body) }

// send makes one request with body ("" sends none); headers may set
// Content-Type, which is otherwise left out.
func send(t *testing.T, method, url string, headers map[string]string, body string) answer {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	var pairs []string
	for k, v := range headers {
		pairs = append(pairs, k, v)
	}
	code, h, raw := testenv.Send(t, method, url, "", r, pairs...)
	return answer{code, h, raw}
}

func jsonCT(ct string) map[string]string { return map[string]string{"Content-Type": ct} }

// postEvent posts body as application/json and fails unless it is stored.
func (e *env) postEvent(body string) answer {
	e.t.Helper()
	a := send(e.t, "POST", e.url("/events"), jsonCT("application/json"), body)
	if a.code != http.StatusOK || string(a.body) != `{"status":"OK"}`+"\n" {
		e.t.Fatalf("POST /events %s: %s", body, a)
	}
	return a
}

// tutorial returns a tutorial-shaped PostCreated event body.
func tutorial(id string) string {
	return fmt.Sprintf(`{"type":"PostCreated","data":{"id":%q,"title":"title %s"}}`, id, id)
}

// history returns GET /events?query as raw elements.
func (e *env) history(query string) (answer, []json.RawMessage) {
	e.t.Helper()
	a := send(e.t, "GET", e.url("/events"+query), nil, "")
	if a.code != http.StatusOK {
		e.t.Fatalf("GET /events%s: %s", query, a)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(a.body, &items); err != nil {
		e.t.Fatalf("GET /events%s: %v: %s", query, err, a.body)
	}
	return a, items
}

// subscribe creates a subscription through the API and returns it.
func (e *env) subscribe(req map[string]any) gateway.SubscriptionView {
	e.t.Helper()
	raw, _ := json.Marshal(req)
	a := send(e.t, "POST", e.url("/subscriptions"), jsonCT("application/json"), string(raw))
	if a.code != http.StatusCreated {
		e.t.Fatalf("POST /subscriptions %s: %s", raw, a)
	}
	var s gateway.SubscriptionView
	if err := json.Unmarshal(a.body, &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// delivery is one request a subscriber received, and what it answered.
type delivery struct {
	id, timestamp, signature, contentType string
	body                                  []byte
	status                                int
}

// subscriber is a push target on a fixed loopback port that can be closed
// and reopened. respond decides each answer's status from the delivery and
// how many requests with its webhook-id came before (0 for the first).
type subscriber struct {
	t        *testing.T
	addr     string
	mu       sync.Mutex
	got      []delivery
	respond  func(d delivery, before int) int
	srv      *http.Server
	location string // the Location of a 3xx answer
}

func newSubscriber(t *testing.T, respond func(d delivery, before int) int) *subscriber {
	t.Helper()
	if respond == nil {
		respond = func(delivery, int) int { return http.StatusOK }
	}
	s := &subscriber{t: t, respond: respond}
	s.listen("127.0.0.1:0")
	t.Cleanup(s.close)
	return s
}

func (s *subscriber) url() string { return "http://" + s.addr + "/events" }

func (s *subscriber) listen(addr string) {
	s.t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for ln, err = net.Listen("tcp", addr); err != nil && time.Now().Before(deadline); ln, err = net.Listen("tcp", addr) {
		time.Sleep(20 * time.Millisecond) // the port may linger briefly after close
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(s.serve)}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.t.Log(err)
		}
	}()
}

func (s *subscriber) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := delivery{id: r.Header.Get("webhook-id"), timestamp: r.Header.Get("webhook-timestamp"),
		signature: r.Header.Get("webhook-signature"), contentType: r.Header.Get("Content-Type"), body: body}
	s.mu.Lock()
	before := 0
	for _, g := range s.got {
		if g.id == d.id {
			before++
		}
	}
	d.status = s.respond(d, before)
	s.got = append(s.got, d)
	if d.status >= 300 && d.status < 400 {
		w.Header().Set("Location", s.location)
	}
	s.mu.Unlock()
	w.WriteHeader(d.status)
	if d.status >= 300 {
		fmt.Fprintf(w, "not now (%d)", d.status)
	}
}

// close stops the subscriber: connections are refused until reopen.
func (s *subscriber) close() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// reopen listens again on the same port.
func (s *subscriber) reopen() { s.listen(s.addr) }

// all returns every request received.
func (s *subscriber) all() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.got...)
}

// ok returns the deliveries it acknowledged (answered 2xx), in order.
func (s *subscriber) ok() []delivery {
	var out []delivery
	for _, d := range s.all() {
		if d.status < 300 {
			out = append(out, d)
		}
	}
	return out
}

// waitOK waits until n deliveries were acknowledged and returns them.
func (s *subscriber) waitOK(n int) []delivery {
	s.t.Helper()
	var got []delivery
	testenv.Eventually(s.t, 20*time.Second, func() error {
		if got = s.ok(); len(got) < n {
			return fmt.Errorf("%d of %d deliveries acknowledged", len(got), n)
		}
		return nil
	})
	return got
}

// tutorialBody decodes a tutorial-format delivery or history element.
type tutorialBody struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func decodeTutorial(t *testing.T, raw []byte) tutorialBody {
	t.Helper()
	var b tutorialBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("not a tutorial event: %v: %s", err, raw)
	}
	return b
}

// postID returns data.id of a tutorial body.
func postID(t *testing.T, raw []byte) string {
	t.Helper()
	var d struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(decodeTutorial(t, raw).Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.ID
}
