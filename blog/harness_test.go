package blog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/service"
)

// env is a blog under test: a real embedded NATS JetStream server and real
// SQLite databases in a temp dir, services on random loopback ports.
type env struct {
	t   *testing.T
	dir string
	srv *jetstream.Server
	bus *jetstream.Bus
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b, err := jetstream.New(nc, jetstream.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureStream(context.Background(), blog.Stream, blog.StreamSubjects); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, srv: srv, bus: b}
}

// svc is a running blog service.
type svc struct {
	*service.Service
	t *testing.T
}

// option changes a service's configuration before it starts.
type option func(*blog.Config)

// withDataDir gives the service its own data dir (a new, empty database).
func withDataDir(dir string) option { return func(c *blog.Config) { c.DataDir = dir } }

// withWrap wraps the service's consumer handlers.
func withWrap(w func(bus.Handler) bus.Handler) option { return func(c *blog.Config) { c.Wrap = w } }

// withBannedWords sets moderation's banned words.
func withBannedWords(words ...string) option { return func(c *blog.Config) { c.BannedWords = words } }

// start builds and starts the named service on a random port. It is stopped
// when the test ends, if the test has not stopped it.
func (e *env) start(name string, opts ...option) *svc {
	e.t.Helper()
	cfg := blog.Config{
		DataDir: e.dir, Addr: "127.0.0.1:0",
		MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := blog.Build(ctx, name, cfg, e.bus)
	if err != nil {
		e.t.Fatal(err)
	}
	s.ProgressEvery = 20 * time.Millisecond
	if s.Relay != nil {
		// Every event must be published because a commit notified the
		// relay, never because it happened to poll: a missing Notify fails
		// the test instead of costing a second.
		s.Relay.Poll = time.Hour
	}
	if err := s.Start(ctx, e.bus); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Stop(context.Background()) })
	return &svc{Service: s, t: e.t}
}

// startAll starts posts, comments, moderation and blog-query.
func (e *env) startAll(opts ...option) map[string]*svc {
	m := map[string]*svc{}
	for _, n := range blog.Services {
		m[n] = e.start(n, opts...)
	}
	return m
}

func (s *svc) stop() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// events returns every event in the BLOG stream, in stream order.
func (e *env) events() []jetstream.Stored {
	e.t.Helper()
	msgs, err := e.bus.Read(context.Background(), blog.Stream, nil, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// settledEvents waits until the outboxes of the write services in s are
// empty and returns the stream's events, which then include everything
// those services ever committed.
func settledEvents(t *testing.T, e *env, s map[string]*svc) []jetstream.Stored {
	t.Helper()
	eventually(t, 15*time.Second, func() error {
		for name, sv := range s {
			if sv.Relay == nil {
				continue
			}
			if n, err := outbox.Pending(context.Background(), sv.DB); err != nil || n != 0 {
				return fmt.Errorf("%s outbox: %d pending, %v", name, n, err)
			}
		}
		return nil
	})
	return e.events()
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// It returns the status code and the raw body.
func do(t *testing.T, method, url string, body any, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	code, _, raw := send(t, method, url, ct, r)
	if out != nil && code < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return code, raw
}

// send makes one request with body r (may be nil) and returns the answer's
// status, headers and body.
func send(t *testing.T, method, url, contentType string, r io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

// mustDo is do that fails the test unless the status is want.
func mustDo(t *testing.T, want int, method, url string, body, out any) {
	t.Helper()
	if code, raw := do(t, method, url, body, out); code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, raw)
	}
}

// comment is a comment as the comments and query services show it.
type comment struct {
	ID      string `json:"id"`
	Content string `json:"content"`
	Status  string `json:"status"`
}

// post is a post as the query service shows it.
type post struct {
	ID       string    `json:"id"`
	Title    string    `json:"title"`
	Comments []comment `json:"comments"`
}

func createPost(t *testing.T, posts *svc, title string) string {
	t.Helper()
	var p post
	mustDo(t, http.StatusCreated, "POST", posts.URL()+"/posts", map[string]string{"title": title}, &p)
	if p.ID == "" || p.Title != title {
		t.Fatalf("created post %+v, want an id and title %q", p, title)
	}
	return p.ID
}

// addComment comments on postID, waiting until comments has heard of the
// post (it learns of posts from events, so there is a short delay). It
// returns the new comment, checked to be the pending last of the list.
func addComment(t *testing.T, comments *svc, postID, content string) comment {
	t.Helper()
	var list []comment
	eventually(t, 15*time.Second, func() error {
		code, raw := do(t, "POST", commentsURL(comments, postID), map[string]string{"content": content}, &list)
		if code != http.StatusCreated {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		return nil
	})
	last := list[len(list)-1]
	if last.ID == "" || last.Content != content || last.Status != "pending" {
		t.Fatalf("comment list after adding %q ends with %+v, want it, pending", content, last)
	}
	return last
}

func commentsURL(comments *svc, postID string) string {
	return comments.URL() + "/posts/" + url.PathEscape(postID) + "/comments"
}

// view returns the query service's answer, rendered as canonical JSON.
func view(t *testing.T, query *svc) (int, string) {
	t.Helper()
	var ps map[string]post
	code, raw := do(t, "GET", query.URL()+"/posts", nil, &ps)
	if code != http.StatusOK {
		return code, string(raw)
	}
	return code, render(t, ps)
}

func render(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// waitView polls the query service until its answer equals want.
func waitView(t *testing.T, query *svc, want map[string]post) {
	t.Helper()
	w := render(t, want)
	eventually(t, 20*time.Second, func() error {
		if code, got := view(t, query); code != http.StatusOK || got != w {
			return fmt.Errorf("status %d, view %s\nwant %s", code, got, w)
		}
		return nil
	})
}

// eventually polls f until it returns nil, failing the test with f's last
// error at the deadline.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(wait) // polling interval, not a stand-in for synchronisation
		wait = min(wait*2, 200*time.Millisecond)
	}
}
