package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the tutorial-style Node.js services of examples/tutorial as
// real child processes against Herald, to prove that services written in
// another language join the blog through the bus gateway unchanged.

// tutorialDir holds the Node services, relative to this package.
const tutorialDir = "../../examples/tutorial"

// requireNode skips the test unless Node.js 18 or newer (global fetch) is on
// PATH.
func requireNode(t *testing.T) {
	t.Helper()
	const skip = "node not found on PATH: the outside-service tests need Node.js 18+ (.ci/run installs it)"
	path, err := exec.LookPath("node")
	if err != nil {
		t.Skip(skip)
	}
	v, err := exec.Command(path, "--version").Output()
	if err != nil {
		t.Skipf("%s (node --version: %v)", skip, err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 18 {
		t.Skipf("node is %s: the outside-service tests need Node.js 18+ (.ci/run installs it)", strings.TrimSpace(string(v)))
	}
}

// nodeService is one of the tutorial's Node services, running.
type nodeService struct {
	*child
	URL string // http://127.0.0.1:<port>
}

// startNode runs examples/tutorial/<script> on port with the given extra
// environment ("KEY=value") and waits until it prints "listening on <port>".
// It is stopped by its PID (SIGKILL) when the test ends.
func startNode(t *testing.T, script string, port int, env ...string) *nodeService {
	t.Helper()
	cmd := exec.Command("node", filepath.Join(tutorialDir, script))
	cmd.Env = append(os.Environ(), append([]string{"PORT=" + strconv.Itoa(port)}, env...)...)
	n := &nodeService{child: startChild(t, script, cmd), URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	n.waitOutput(t, fmt.Sprintf("listening on %d", port))
	return n
}

// upServices runs the named Herald apps or services in this process with
// flags f, as `herald up` does, and closes them when the test ends.
func upServices(t *testing.T, f serviceFlags, targets ...string) *Main {
	t.Helper()
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: f, Targets: targets}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeMain(t, m) })
	return m
}

// TestOutsideServicesJoinTheBlog: the tutorial's moderation and query
// services, in Node, join Herald's posts, comments, blog-query and gateway.
// The gateway pushes every event to both; the Node moderation decides every
// comment and posts its decision back to the gateway; Herald's comments
// applies it; and Herald's blog-query and the Node query arrive at the same
// view, including a post an outside service posted straight to the gateway.
func TestOutsideServicesJoinTheBlog(t *testing.T) {
	requireNode(t)
	modPort, queryPort := freePort(t), freePort(t)
	f := testFlags(t.TempDir())
	f.Push = []string{fmt.Sprintf("http://127.0.0.1:%d/events", modPort), fmt.Sprintf("http://127.0.0.1:%d/events", queryPort)}
	f.PushMaxDeliver = 1000 // the Node services may take a moment to come up
	// Herald's posts runs, and so does an outside posts service, which
	// posts its PostCreated to the gateway: declared, or it is refused.
	f.External = []string{"posts"}
	m := upServices(t, f, "posts", "comments", "blog-query", "gateway")
	if m.Service("moderation") != nil {
		t.Fatal("Herald's own moderation is running; the Node one must decide alone")
	}
	gw := m.Service("gateway").URL()
	startNode(t, "moderation.js", modPort, "EVENT_BUS_URL="+gw, "BANNED=orange")
	query := startNode(t, "query.js", queryPort, "EVENT_BUS_URL="+gw)

	posts, comments := m.Service("posts").URL(), m.Service("comments").URL()
	first := createPost(t, posts, "first post")
	fine := createComment(t, comments, first, "nice post")
	fruit := createComment(t, comments, first, "but I like orange juice")
	// An outside posts service posts its PostCreated straight to the bus.
	postEvent(t, gw, map[string]any{"type": "PostCreated", "data": map[string]string{"id": "outside-1", "title": "from outside"}})
	outside := createComment(t, comments, "outside-1", "welcome aboard")
	rind := createComment(t, comments, "outside-1", "Orange you glad?")

	want := map[string]blogPost{
		first: {ID: first, Title: "first post", Comments: []blogComment{
			{ID: fine, Content: "nice post", Status: "approved"},
			{ID: fruit, Content: "but I like orange juice", Status: "rejected"},
		}},
		"outside-1": {ID: "outside-1", Title: "from outside", Comments: []blogComment{
			{ID: outside, Content: "welcome aboard", Status: "approved"},
			{ID: rind, Content: "Orange you glad?", Status: "rejected"},
		}},
	}
	waitView(t, "Herald's blog-query", m.Service("blog-query").URL(), want)
	waitView(t, "the Node query", query.URL, want)

	// The Node query dies and misses a comment. Restarted, it replays the
	// history, which holds the comment, and then receives the pushes the
	// gateway held back for it, the same events again: it must apply each
	// event id once.
	query.kill(t)
	late := createComment(t, comments, first, "written while the Node query was down")
	p := want[first]
	p.Comments = append(p.Comments, blogComment{ID: late, Content: "written while the Node query was down", Status: "approved"})
	want[first] = p
	waitView(t, "Herald's blog-query", m.Service("blog-query").URL(), want)
	query = startNode(t, "query.js", queryPort, "EVENT_BUS_URL="+gw)
	waitPushed(t, operatorToken(t, f.Data), gw, query.URL+"/events")
	if !strings.Contains(query.stdout.String(), "ignoring a repeat of event") {
		t.Errorf("the restarted Node query received no held-back push to ignore; %s", query.describe())
	}
	got, raw, err := getPosts(query.URL)
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(got) != mustJSON(want) {
		t.Fatalf("the restarted Node query shows\n%s\nwant\n%s\n%s", raw, mustJSON(want), query.describe())
	}
}

// waitPushed waits until the gateway's subscription to target has nothing
// pending: every event delivered and acknowledged.
func waitPushed(t *testing.T, tok, gw, target string) {
	t.Helper()
	eventually(t, 15*time.Second, "the gateway has pushed everything to "+target, func() (bool, string) {
		status, b, _ := callAs(tok, http.MethodGet, gw+"/subscriptions", nil)
		var list struct {
			Subscriptions []struct {
				URL     string
				Pending int64
			}
		}
		if status != http.StatusOK || json.Unmarshal(b, &list) != nil {
			return false, fmt.Sprintf("GET /subscriptions: %d %s", status, b)
		}
		for _, s := range list.Subscriptions {
			if s.URL == target {
				return s.Pending == 0, string(b)
			}
		}
		return false, string(b)
	})
}

// TestOutsideQueryRebuildsFromGatewayHistory: a fresh Node query service,
// started after the activity, rebuilds the whole view from GET /events
// before it listens, whether it reads the history in one answer or page by
// page, and whatever shape each event was posted in.
func TestOutsideQueryRebuildsFromGatewayHistory(t *testing.T) {
	requireNode(t)
	f := testFlags(t.TempDir())
	f.External = []string{"posts"} // the tutorial's posts service runs beside Herald's
	m := upServices(t, f, "blog")
	gw := m.Service("gateway").URL()
	nodePosts := startNode(t, "posts.js", freePort(t), "EVENT_BUS_URL="+gw)

	posts, comments := m.Service("posts").URL(), m.Service("comments").URL()
	herald := createPost(t, posts, "written through Herald")
	node := createPost(t, nodePosts.URL, "written through the tutorial's posts service")
	// A structured CloudEvent, posted straight to the gateway.
	postEvent(t, gw, map[string]any{"specversion": "1.0", "id": "ce-post-1", "source": "/elsewhere", "type": "PostCreated",
		"datacontenttype": "application/json", "data": map[string]string{"id": "ce-1", "title": "posted as a CloudEvent"}})
	want := map[string]blogPost{
		herald: {ID: herald, Title: "written through Herald"},
		node:   {ID: node, Title: "written through the tutorial's posts service"},
		"ce-1": {ID: "ce-1", Title: "posted as a CloudEvent", Comments: []blogComment{}},
	}
	for _, c := range []struct{ post, content, status string }{
		{herald, "first!", "approved"}, {herald, "an orange a day", "rejected"}, {node, "hello from Go", "approved"},
	} {
		p := want[c.post]
		p.Comments = append(p.Comments, blogComment{ID: createComment(t, comments, c.post, c.content), Content: c.content, Status: c.status})
		want[c.post] = p
	}
	waitView(t, "Herald's blog-query", m.Service("blog-query").URL(), want)

	status, b, _ := call(http.MethodGet, gw+"/events", nil)
	var history []json.RawMessage
	if err := json.Unmarshal(b, &history); status != http.StatusOK || err != nil {
		t.Fatalf("GET /events: %d %s (%v)", status, b, err)
	}

	// The Node query replays the history before it listens: its first answer
	// is already the whole view.
	for _, page := range []string{"", "PAGE_SIZE=2"} {
		q := startNode(t, "query.js", freePort(t), "EVENT_BUS_URL="+gw, page)
		got, raw, err := getPosts(q.URL)
		if err != nil {
			t.Fatal(err)
		}
		if wantJSON := mustJSON(want); mustJSON(got) != wantJSON {
			t.Fatalf("a fresh Node query (%s) replayed GET /events into\n%s\nwant Herald's blog-query view\n%s\n%s", page, raw, wantJSON, q.describe())
		}
		if replayed := fmt.Sprintf("replayed %d events", len(history)); !strings.Contains(q.stdout.String(), replayed) {
			t.Errorf("the Node query did not say %q; %s", replayed, q.describe())
		}
	}
}

// TestPushSubscriberDownThenBackReceivesEveryEventInOrder: a push subscriber
// killed mid-stream misses nothing: while it is down the gateway holds its
// events back and retries, and once it is back on the same port it receives
// every event in the order posted. Only a delivery cut mid-flight by the kill
// may arrive twice, and only that one.
func TestPushSubscriberDownThenBackReceivesEveryEventInOrder(t *testing.T) {
	requireNode(t)
	port := freePort(t)
	file := filepath.Join(t.TempDir(), "events.jsonl")
	f := testFlags(t.TempDir())
	f.Push = []string{fmt.Sprintf("http://127.0.0.1:%d/events", port)}
	f.PushMaxDeliver = 10000 // 50ms apart: ample for the outage
	m := upServices(t, f, "gateway")
	gw := m.Service("gateway").URL()
	rec := startNode(t, "recorder.js", port, "OUT="+file)

	const n = 90
	var (
		mu     sync.Mutex
		posted []string // event ids in the order posted
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(posted) }
	// publish posts events from to to-1, in order: every third a CloudEvent
	// with its own id, the rest in the tutorial's shape.
	publish := func(from, to int) error {
		for i := from; i < to; i++ {
			data := map[string]any{"id": fmt.Sprintf("p%d", i), "title": fmt.Sprintf("post %d", i)}
			var ev any = map[string]any{"type": "PostCreated", "data": data}
			if i%3 == 0 {
				ev = map[string]any{"specversion": "1.0", "id": fmt.Sprintf("ce-%d", i), "source": "/test", "type": "PostCreated", "data": data}
			}
			status, b, h := call(http.MethodPost, gw+"/events", ev)
			if status != http.StatusOK || h.Get("Herald-Event-Id") == "" {
				return fmt.Errorf("POST /events (event %d): %d %s", i, status, b)
			}
			if id := h.Get("Herald-Event-Id"); i%3 == 0 && id != fmt.Sprintf("ce-%d", i) {
				return fmt.Errorf("CloudEvent ce-%d stored as %s", i, id)
			}
			mu.Lock()
			posted = append(posted, h.Get("Herald-Event-Id"))
			mu.Unlock()
		}
		return nil
	}

	// Events are posted without pause while the subscriber is killed.
	publishing := make(chan error, 1)
	go func() { publishing <- publish(0, 60) }()
	eventually(t, 10*time.Second, "the recorder receives the first events", func() (bool, string) {
		lines := readRecorded(t, file)
		return len(lines) >= 10, fmt.Sprintf("%d recorded", len(lines))
	})
	rec.kill(t) // SIGKILL, mid-stream
	atKill := readRecorded(t, file)
	postedAtKill := count()
	if err := <-publishing; err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // an intentional outage: several failed attempts 50ms apart
	startNode(t, "recorder.js", port, "OUT="+file)
	if err := publish(60, n); err != nil {
		t.Fatal(err)
	}

	var got []recorded
	eventually(t, 15*time.Second, "the recorder, back, receives every event", func() (bool, string) {
		got = readRecorded(t, file)
		return len(distinct(got)) == n, fmt.Sprintf("%d distinct of %d", len(distinct(got)), n)
	})
	t.Logf("%d events posted (%d when the subscriber was killed, %d of them recorded by then), %d deliveries in all",
		n, postedAtKill, len(atKill), len(got))

	firsts := distinct(got)
	for i := range n {
		if firsts[i] != posted[i] {
			t.Fatalf("event %d first delivered was %s, want %s (posted order):\nposted    %v\ndelivered %v", i, firsts[i], posted[i], posted, firsts)
		}
	}
	for i, r := range got {
		if r.Type != "PostCreated" || r.Body.Type != "PostCreated" || len(r.Body.Data) == 0 {
			t.Fatalf("delivery %d is %+v; want a tutorial-shaped PostCreated", i, r)
		}
	}
	// A repeat is allowed only for the delivery in flight at the kill: the
	// recorder wrote it, then died before answering. It is the last one
	// recorded before the kill, seen again first after the restart.
	if extra := len(got) - n; extra > 0 {
		t.Logf("duplicates: %d (%v)", extra, got[len(atKill)].ID)
		if extra > 1 || len(atKill) == 0 || got[len(atKill)].ID != atKill[len(atKill)-1].ID {
			t.Fatalf("%d duplicate deliveries; only the one cut mid-flight by the kill may repeat:\n%v", extra, got)
		}
	}
}

// recorded is one line of recorder.js's file.
type recorded struct {
	ID   string        `json:"id"`
	Type string        `json:"type"`
	Body tutorialEvent `json:"body"`
}

// readRecorded reads recorder.js's file. Every whole line must be JSON; a
// last line without its newline is being written and is left for the next
// read.
func readRecorded(t *testing.T, file string) []recorded {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []recorded
	lines := strings.Split(string(b), "\n")
	for i, line := range lines[:len(lines)-1] {
		var r recorded
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s line %d: %v: %s", file, i+1, err, line)
		}
		out = append(out, r)
	}
	return out
}

// distinct returns the ids of rs, each at its first appearance.
func distinct(rs []recorded) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rs {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r.ID)
		}
	}
	return out
}
