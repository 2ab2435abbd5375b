package blog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/internal/testenv"
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
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"), testenv.Stream{Name: blog.Stream, Subjects: []string{blog.StreamSubjects}})
	return &env{t: t, dir: dir, srv: n.Server, bus: n.Bus}
}

// svc is a running blog service.
type svc = testenv.Service

// option changes a service's configuration before it starts.
type option func(*blog.Config)

// withDataDir gives the service its own data dir (a new, empty database).
func withDataDir(dir string) option { return func(c *blog.Config) { c.DataDir = dir } }

// withDB puts the service's database at dsn (a postgres:// URL or a file).
func withDB(dsn string) option { return func(c *blog.Config) { c.DB = dsn } }

// withWrap wraps the service's consumer handlers.
func withWrap(w func(bus.Handler) bus.Handler) option { return func(c *blog.Config) { c.Wrap = w } }

// withBannedWords sets moderation's banned words.
func withBannedWords(words ...string) option { return func(c *blog.Config) { c.BannedWords = words } }

// start builds and starts the named service on a random port. It is stopped
// when the test ends, if the test has not stopped it.
func (e *env) start(name string, opts ...option) *svc {
	e.t.Helper()
	cfg := blog.Config{Config: service.Config{
		DataDir: e.dir, Addr: "127.0.0.1:0",
		MaxDeliver: 3, Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second,
	}}
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
	return testenv.StartService(ctx, e.t, s, e.bus)
}

// startAll starts posts, comments, moderation and blog-query.
func (e *env) startAll(opts ...option) map[string]*svc {
	m := map[string]*svc{}
	for _, n := range blog.Services {
		m[n] = e.start(n, opts...)
	}
	return m
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
	testenv.Eventually(t, 15*time.Second, func() error {
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
	testenv.MustDo(t, http.StatusCreated, "POST", posts.URL()+"/posts", map[string]string{"title": title}, &p)
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
	testenv.Eventually(t, 15*time.Second, func() error {
		code, raw := testenv.Do(t, "POST", commentsURL(comments, postID), map[string]string{"content": content}, &list)
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
	code, raw := testenv.Do(t, "GET", query.URL()+"/posts", nil, &ps)
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
	testenv.Eventually(t, 20*time.Second, func() error {
		if code, got := view(t, query); code != http.StatusOK || got != w {
			return fmt.Errorf("status %d, view %s\nwant %s", code, got, w)
		}
		return nil
	})
}
