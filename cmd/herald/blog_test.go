package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/testenv"
)

// These tests run the test binary itself as the herald command (see TestMain
// in signal_test.go), so they exercise the real process: its flags, what it
// prints, its signals, and what survives a kill -9.

// child is a process a test started: herald, or a Node service.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdout *testenv.SyncBuffer
	stderr *testenv.SyncBuffer
	exited chan struct{} // closed once the process has exited
	err    error         // its exit error, once exited is closed
}

// startChild starts cmd and stops it by its PID (SIGKILL) when the test ends,
// if it is still running.
func startChild(t *testing.T, name string, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{name: name, cmd: cmd, stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // an error only means it has exited already
		<-c.exited
	})
	return c
}

// describe is what a failure message shows of the child.
func (c *child) describe() string {
	return fmt.Sprintf("%s (pid %d) stdout:\n%s\nstderr:\n%s", c.name, c.cmd.Process.Pid, c.stdout, c.stderr)
}

// waitOutput waits up to 20 seconds for the child to print want on stdout.
func (c *child) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.stdout.String(), want) {
		select {
		case <-c.exited:
			t.Fatalf("%s exited (%v) before printing %q; %s", c.name, c.err, want, c.describe())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within 20s; %s", c.name, want, c.describe())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s still running 10s after SIGKILL", c.name)
	}
}

// stop sends sig and returns the exit error (nil for exit status 0), failing
// the test if the process is still running 30 seconds later.
func (c *child) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", c.name, err)
	}
	select {
	case <-c.exited:
		return c.err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still running 30s after %v; %s", c.name, sig, c.describe())
		return nil
	}
}

// heraldProcess is a herald command running in a child process, with the
// URLs it printed.
type heraldProcess struct {
	*child
	urls map[string]string // service name → URL
	apps map[string]string // service name → app
}

// startHerald runs `herald args...` and waits until it prints "Press Ctrl-C
// to stop.", collecting each "  <app>  <service>  <url>" line before it.
func startHerald(t *testing.T, args ...string) *heraldProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALD_TEST_RUN_MAIN=1")
	h := &heraldProcess{child: startChild(t, "herald "+strings.Join(args, " "), cmd), urls: map[string]string{}, apps: map[string]string{}}
	h.waitOutput(t, "Press Ctrl-C to stop.")
	for line := range strings.Lines(h.stdout.String()) {
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "http://") {
			h.apps[f[1]], h.urls[f[1]] = f[0], f[2]
		}
	}
	return h
}

// addrFlags maps each service to the flag that sets its listen address.
var addrFlags = map[string]string{
	"users": "--users-addr", "products": "--products-addr", "orders": "--orders-addr", "query": "--query-addr",
	"posts": "--posts-addr", "comments": "--comments-addr", "moderation": "--moderation-addr",
	"blog-query": "--blog-query-addr", "gateway": "--gateway-addr",
}

// randomPorts are the flags that put every service on a random loopback
// port, and keep the embedded bus in-process (no fixed NATS port).
func randomPorts() []string {
	args := []string{"--nats-listen", "", "--dashboard-addr", "127.0.0.1:0"}
	for _, flag := range addrFlags {
		args = append(args, flag, "127.0.0.1:0")
	}
	return args
}

// samePorts are the flags that put each service of a restart on the port
// the previous run printed for it.
func samePorts(t *testing.T, urls map[string]string) []string {
	t.Helper()
	args := []string{"--nats-listen", "", "--dashboard-addr", "127.0.0.1:0"}
	for name, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, addrFlags[name], u.Host)
	}
	return args
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// call sends body (JSON-encoded, unless nil) with method to url and returns
// the status, the answer's body and its headers; a connection error is
// status 0 with the error as body.
func call(method, url string, body any) (int, []byte, http.Header) {
	return callAs("", method, url, body)
}

// callAs is call with the bearer token tok ("" for none).
func callAs(tok, method, url string, body any) (int, []byte, http.Header) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, []byte(err.Error()), nil
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// postWant POSTs body to url until it is answered with status want, retrying
// a 404 (a post the comments service has not heard of yet) or a connection
// error for up to 15 seconds; any other answer fails the test. It returns
// the answer's body and headers.
func postWant(t *testing.T, url string, body any, want int) ([]byte, http.Header) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, b, h := call(http.MethodPost, url, body)
		if status == want {
			return b, h
		}
		if status != 0 && status != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("POST %s: %d %s, want %d", url, status, b, want)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// eventually polls cond until it holds, failing the test with cond's last
// description of the state if it does not within d.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	testenv.Eventually(t, d, func() error {
		if ok, state := cond(); !ok {
			return fmt.Errorf("%s:\n%s", what, state)
		}
		return nil
	})
}

// blogPost is a post as the tutorial's query service shows it, which is how
// Herald's blog-query and examples/tutorial/query.js both answer GET /posts.
type blogPost struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Comments []blogComment `json:"comments"`
}

type blogComment struct {
	ID      string `json:"id"`
	Content string `json:"content"`
	Status  string `json:"status"`
}

// getPosts reads GET <base>/posts; a failure is returned, not fatal, so
// polls can retry it.
func getPosts(base string) (map[string]blogPost, string, error) {
	status, b, _ := call(http.MethodGet, base+"/posts", nil)
	if status != http.StatusOK {
		return nil, string(b), fmt.Errorf("GET %s/posts: %d %s", base, status, b)
	}
	var posts map[string]blogPost
	if err := json.Unmarshal(b, &posts); err != nil {
		return nil, string(b), fmt.Errorf("GET %s/posts: %v in %s", base, err, b)
	}
	return posts, string(b), nil
}

// waitView waits until GET <base>/posts shows exactly want.
func waitView(t *testing.T, name, base string, want map[string]blogPost) {
	t.Helper()
	eventually(t, 15*time.Second, name+" shows every post with its moderated comments", func() (bool, string) {
		got, raw, err := getPosts(base)
		if err != nil {
			return false, err.Error()
		}
		wantJSON, _ := json.Marshal(want)
		return reflect.DeepEqual(got, want), fmt.Sprintf("got  %s\nwant %s", raw, wantJSON)
	})
}

// createPost creates a post through a posts service (Herald's or the
// tutorial's) and returns its id.
func createPost(t *testing.T, postsURL, title string) string {
	t.Helper()
	b, _ := postWant(t, postsURL+"/posts", map[string]string{"title": title}, http.StatusCreated)
	var p blogPost
	if err := json.Unmarshal(b, &p); err != nil || p.ID == "" || p.Title != title {
		t.Fatalf("POST %s/posts answered %s (%v)", postsURL, b, err)
	}
	return p.ID
}

// createComment comments on post through Herald's comments service, retrying
// while comments has not heard of the post, and returns the comment's id.
func createComment(t *testing.T, commentsURL, post, content string) string {
	t.Helper()
	b, _ := postWant(t, commentsURL+"/posts/"+url.PathEscape(post)+"/comments", map[string]string{"content": content}, http.StatusCreated)
	var list []blogComment
	if err := json.Unmarshal(b, &list); err != nil || len(list) == 0 || list[len(list)-1].Content != content || list[len(list)-1].Status != "pending" {
		t.Fatalf("POST comment answered %s (%v); want the list with the new pending comment last", b, err)
	}
	return list[len(list)-1].ID
}

// postEvent posts one event to the gateway and returns the id it was stored
// under, failing the test unless it is answered 200 {"status":"OK"}.
func postEvent(t *testing.T, gateway string, ev any) string {
	t.Helper()
	status, b, h := call(http.MethodPost, gateway+"/events", ev)
	if status != http.StatusOK || strings.TrimSpace(string(b)) != `{"status":"OK"}` {
		t.Fatalf("POST %s/events: %d %s, want 200 {\"status\":\"OK\"}", gateway, status, b)
	}
	id := h.Get("Herald-Event-Id")
	if id == "" {
		t.Fatalf("POST %s/events answered without Herald-Event-Id", gateway)
	}
	return id
}

// tutorialEvent is an event in the tutorial's shape.
type tutorialEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// delivery is one push a subscriber received.
type delivery struct {
	ID   string // webhook-id
	Body []byte
}

// subscriber is a push subscriber on a fixed loopback address that records
// every delivery and answers 200.
type subscriber struct {
	mu   sync.Mutex
	got  []delivery
	srv  *http.Server
	addr string
}

func startSubscriber(t *testing.T, addr string) *subscriber {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("subscriber on %s: %v", addr, err)
	}
	s := &subscriber{addr: addr}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got = append(s.got, delivery{ID: r.Header.Get("webhook-id"), Body: b})
		s.mu.Unlock()
		w.Write([]byte("{}"))
	})}
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *subscriber) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

// TestGatewayKilledBetweenAcceptAndPushLosesNothing: every event the gateway
// answered 200 is durable before the answer, so a kill -9 before it could
// push any of them loses none: after a restart the subscriber receives all,
// in the order posted, once each, and GET /events still holds them all in
// the shape they were posted in.
func TestGatewayKilledBetweenAcceptAndPushLosesNothing(t *testing.T) {
	dir := t.TempDir()
	subAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nobody listens yet: the subscriber is down
	// A delivery or event in flight at a kill -9 is redelivered once its ack
	// wait has passed (for a push, --push-timeout + 10s): keep both short.
	// The PostCreated events come from an outside posts service: declared.
	push := []string{"--push", "http://" + subAddr + "/events", "--push-backoff", "50ms", "--push-max-deliver", "100000",
		"--push-timeout", "1s", "--ack-wait", "2s", "--external", "posts"}
	h := startHerald(t, append(append([]string{"up", "blog", "--data", dir}, push...), randomPorts()...)...)
	gw := h.urls["gateway"]

	const n = 50
	var ids []string
	var posted []tutorialEvent
	for i := range n {
		data := json.RawMessage(fmt.Sprintf(`{"id":"killed-%02d","title":"post %d"}`, i, i))
		ids = append(ids, postEvent(t, gw, tutorialEvent{Type: "PostCreated", Data: data}))
		posted = append(posted, tutorialEvent{Type: "PostCreated", Data: data})
	}
	h.kill(t) // between the 200s and any push: the subscriber was never up

	h = startHerald(t, append(append([]string{"up", "blog", "--data", dir}, push...), samePorts(t, h.urls)...)...)
	if h.urls["gateway"] != gw {
		t.Fatalf("restarted gateway at %s, want %s", h.urls["gateway"], gw)
	}

	// The history is whole, in order, in the shape it was posted in.
	status, b, _ := call(http.MethodGet, gw+"/events", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /events after the restart: %d %s", status, b)
	}
	var history []map[string]json.RawMessage
	if err := json.Unmarshal(b, &history); err != nil {
		t.Fatalf("GET /events: %v in %s", err, b)
	}
	if len(history) != n {
		t.Fatalf("GET /events after kill -9 and restart holds %d events, want %d:\n%s", len(history), n, b)
	}
	for i, ev := range history {
		var typ string
		json.Unmarshal(ev["type"], &typ)
		if len(ev) != 2 || typ != "PostCreated" || !bytes.Equal(ev["data"], posted[i].Data) {
			t.Fatalf("GET /events[%d] = %s, want {type, data} with data %s", i, mustJSON(ev), posted[i].Data)
		}
	}

	sub := startSubscriber(t, subAddr)
	began := time.Now()
	eventually(t, 20*time.Second, "the subscriber receives every event accepted before the kill", func() (bool, string) {
		return len(sub.deliveries()) >= n, fmt.Sprintf("%d of %d delivered; %s", len(sub.deliveries()), n, h.describe())
	})
	// Usually at once; after a kill that caught a delivery attempt in
	// flight, once that attempt's ack wait (--push-timeout + 10s) has passed.
	t.Logf("all %d delivered %v after the subscriber came up", n, time.Since(began).Round(time.Millisecond))
	// Once the gateway has nothing pending, no further delivery can come.
	eventually(t, 10*time.Second, "the push subscription has nothing pending", func() (bool, string) {
		status, b, _ := callAs(operatorToken(t, dir), http.MethodGet, gw+"/subscriptions", nil)
		var list struct{ Subscriptions []struct{ Pending int64 } }
		json.Unmarshal(b, &list)
		return status == http.StatusOK && len(list.Subscriptions) == 1 && list.Subscriptions[0].Pending == 0, string(b)
	})
	got := sub.deliveries()
	if len(got) != n {
		t.Errorf("the subscriber received %d deliveries, want %d (once per event)", len(got), n)
	}
	for i := range min(len(got), n) {
		var ev tutorialEvent
		if err := json.Unmarshal(got[i].Body, &ev); err != nil || got[i].ID != ids[i] || ev.Type != "PostCreated" || !bytes.Equal(ev.Data, posted[i].Data) {
			t.Fatalf("delivery %d: webhook-id %s body %s; want webhook-id %s body {type: PostCreated, data: %s}",
				i, got[i].ID, got[i].Body, ids[i], posted[i].Data)
		}
	}
	// And Herald's own blog-query, which consumes the same stream, has them all.
	eventually(t, 10*time.Second, "blog-query shows every post", func() (bool, string) {
		posts, raw, err := getPosts(h.urls["blog-query"])
		return err == nil && len(posts) == n, raw
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestUpBlogPrintsEveryURLAndServesTheFlow: `herald up blog` runs the
// tutorial's four services and the bus gateway, prints where, serves the
// tutorial's flow over HTTP, and stops cleanly on SIGTERM.
func TestUpBlogPrintsEveryURLAndServesTheFlow(t *testing.T) {
	h := startHerald(t, append([]string{"up", "blog", "--data", t.TempDir()}, randomPorts()...)...)
	want := []string{"blog-query", "comments", "gateway", "moderation", "posts"}
	if got := slices.Sorted(maps.Keys(h.urls)); !slices.Equal(got, want) {
		t.Fatalf("herald up blog printed the services %v, want %v:\n%s", got, want, h.stdout)
	}
	for name, app := range h.apps {
		if app != "blog" {
			t.Errorf("%s printed as app %q, want blog", name, app)
		}
	}

	post := createPost(t, h.urls["posts"], "Herald")
	fine := createComment(t, h.urls["comments"], post, "a fine post")
	fruit := createComment(t, h.urls["comments"], post, "I prefer orange juice")
	waitView(t, "blog-query", h.urls["blog-query"], map[string]blogPost{post: {ID: post, Title: "Herald", Comments: []blogComment{
		{ID: fine, Content: "a fine post", Status: "approved"},
		{ID: fruit, Content: "I prefer orange juice", Status: "rejected"},
	}}})
	// The comments service applied moderation's decisions too.
	status, b, _ := call(http.MethodGet, h.urls["comments"]+"/posts/"+post+"/comments", nil)
	if want := fmt.Sprintf(`[{"id":%q,"content":"a fine post","status":"approved"},{"id":%q,"content":"I prefer orange juice","status":"rejected"}]`, fine, fruit); status != http.StatusOK || strings.TrimSpace(string(b)) != want {
		t.Errorf("GET comments: %d %s, want %s", status, b, want)
	}

	if err := h.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("herald up blog exited with %v after SIGTERM; %s", err, h.describe())
	}
	if !strings.Contains(h.stderr.String(), "stopped cleanly") {
		t.Fatalf("no clean stop after SIGTERM; %s", h.describe())
	}
}

// TestUpWithoutArgumentsServesTheShopAndTheBlog: plain `herald up` runs both
// apps, all nine services, each printed and ready.
func TestUpWithoutArgumentsServesTheShopAndTheBlog(t *testing.T) {
	h := startHerald(t, append([]string{"up", "--data", t.TempDir()}, randomPorts()...)...)
	apps := map[string]string{
		"users": "shop", "products": "shop", "orders": "shop", "query": "shop",
		"posts": "blog", "comments": "blog", "moderation": "blog", "blog-query": "blog", "gateway": "blog",
	}
	if !reflect.DeepEqual(h.apps, apps) {
		t.Fatalf("herald up printed %v, want %v:\n%s", h.apps, apps, h.stdout)
	}
	for name, u := range h.urls {
		eventually(t, 10*time.Second, name+" is ready", func() (bool, string) {
			status, b, _ := call(http.MethodGet, u+"/readyz", nil)
			return status == http.StatusOK, fmt.Sprintf("GET %s/readyz: %d %s", u, status, b)
		})
	}
	if err := h.stop(t, syscall.SIGINT); err != nil {
		t.Fatalf("herald up exited with %v after SIGINT; %s", err, h.describe())
	}
}
