package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/shop"
)

// system is a shop under test: a real embedded NATS JetStream server, the
// shop's services on random loopback ports with real SQLite databases, and
// the Options a dashboard of it takes.
type system struct {
	t    *testing.T
	nats *testenv.NATS
	svcs map[string]*testenv.Service

	mu   sync.Mutex
	urls map[string]string
}

// newSystem starts NATS with the SHOP stream and the shop services named
// (none: no service).
func newSystem(t *testing.T, names ...string) *system {
	t.Helper()
	dir := t.TempDir()
	s := &system{
		t:    t,
		nats: testenv.NewNATS(t, filepath.Join(dir, "nats"), testenv.Stream{Name: shop.Stream, Subjects: []string{shop.StreamSubjects}}),
		svcs: map[string]*testenv.Service{},
		urls: map[string]string{},
	}
	for _, name := range shop.Services {
		s.urls[name] = "http://127.0.0.1:1" // nothing listens: down
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range names {
		cfg := shop.Config{
			DataDir: dir, Addr: "127.0.0.1:0",
			MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second,
		}
		svc, err := shop.Build(ctx, name, cfg, s.nats.Bus)
		if err != nil {
			t.Fatal(err)
		}
		svc.ProgressEvery = 20 * time.Millisecond
		s.svcs[name] = testenv.StartService(ctx, t, svc, s.nats.Bus)
		s.urls[name] = s.svcs[name].URL()
	}
	return s
}

// options are the Options of a dashboard of the shop.
func (s *system) options() Options {
	return Options{
		Catalogue: catalogue.Catalogue{shop.App()},
		Bus:       s.nats.Bus,
		Ask:       s.ask,
		URL:       s.url,
		Every:     20 * time.Millisecond,
	}
}

func (s *system) url(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.urls[name]
}

// ask GETs path of the service called name (they run without auth).
func (s *system) ask(ctx context.Context, name, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url(name)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("ask %s: %s: %s", name, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// serve starts a dashboard with o and returns its URL.
func serve(t *testing.T, o Options) string {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// call sends a request with an optional JSON body and bearer token, and
// decodes a JSON answer into out (if not nil). It returns the status and
// the body.
func call(t *testing.T, method, url, token string, body, out any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// problem is an RFC 9457 problem detail.
type problem struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// mustProblem checks that body is a problem with status code, and returns
// its detail.
func mustProblem(t *testing.T, code int, status int, body string) string {
	t.Helper()
	if status != code {
		t.Fatalf("status %d, want %d: %s", status, code, body)
	}
	var p problem
	if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != code || p.Detail == "" {
		t.Fatalf("not a %d problem: %s", code, body)
	}
	return p.Detail
}

// wantProblem sends a request like call and checks that the answer is a
// problem with status code; it returns its detail.
func wantProblem(t *testing.T, code int, method, url, token string, body any) string {
	t.Helper()
	status, b := call(t, method, url, token, body, nil)
	return mustProblem(t, code, status, b)
}

// newServer serves h on a random port until the test ends.
func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// serviceIn returns the service called name of the topology's first app.
func serviceIn(top Topology, name string) (ServiceState, bool) {
	for _, a := range top.Apps {
		for _, s := range a.Services {
			if s.Name == name {
				return s, true
			}
		}
	}
	return ServiceState{}, false
}
