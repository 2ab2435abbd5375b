package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/journey"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
)

// TestBlogReadsItsWritesAndHeraldTraceFollowsAGatewayEvent runs the blog
// with herald up's code: a post and a gateway event are each read back
// fresh with their token, the gateway's push carries the event's trace to
// the subscriber, and herald trace and herald status, run as commands,
// describe it.
func TestBlogReadsItsWritesAndHeraldTraceFollowsAGatewayEvent(t *testing.T) {
	var mu sync.Mutex
	pushed := map[string]string{} // webhook-id: traceparent
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pushed[r.Header.Get("webhook-id")] = r.Header.Get("traceparent")
		mu.Unlock()
	}))
	defer sub.Close()
	flags := testFlags(t.TempDir())
	flags.Push = []string{sub.URL + "/events"}
	flags.External = []string{"posts"} // the PostCreated posted to the gateway comes from outside
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: flags, Targets: []string{"blog"}, NatsListen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	defer closeMain(t, m)
	url := func(name string) string { return m.Service(name).URL() }
	readPosts := func(token string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url("blog-query")+"/posts", nil)
		req.Header.Set(service.HeaderAfter, token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get(service.HeaderConsistency), string(b)
	}

	// A post through the posts service, read back at once.
	status, b, h := call(http.MethodPost, url("posts")+"/posts", map[string]string{"title": "Hello"})
	if status != http.StatusCreated || h.Get(service.HeaderToken) == "" {
		t.Fatalf("POST /posts: %d %s, token %q", status, b, h.Get(service.HeaderToken))
	}
	if c, body := readPosts(h.Get(service.HeaderToken)); c != service.Fresh || !strings.Contains(body, `"Hello"`) {
		t.Fatalf("blog-query after the post: %s %s, want fresh with the post", c, body)
	}

	// A tutorial event through the gateway: its answer's token works the
	// same way.
	status, b, h = call(http.MethodPost, url("gateway")+"/events", map[string]any{
		"type": "PostCreated", "data": map[string]string{"id": "tutorial-1", "title": "From the tutorial"}})
	id := h.Get(service.HeaderEventID)
	if status != http.StatusOK || id == "" || h.Get(service.HeaderToken) != "PostCreated:"+id {
		t.Fatalf("POST /events: %d %s, id %q token %q", status, b, id, h.Get(service.HeaderToken))
	}
	if c, body := readPosts(h.Get(service.HeaderToken)); c != service.Fresh || !strings.Contains(body, "From the tutorial") {
		t.Fatalf("blog-query after the gateway event: %s %s, want fresh with it", c, body)
	}

	// herald trace, as a person runs it, with the services' addresses.
	args := []string{"--nats", m.server.ClientURL(), "--data", flags.Data}
	for _, s := range m.running.Services {
		args = append(args, "--addr", s.Name+"="+strings.TrimPrefix(s.URL(), "http://"))
	}
	run := func(cmd ...string) string {
		t.Helper()
		var c cli
		k, err := mustParser(t, &c).Parse(append(cmd, args...))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		run := &Main{Log: slog.New(slog.DiscardHandler), Out: &out}
		switch k.Command() {
		case "trace <id>":
			err = run.Trace(context.Background(), c.Trace)
		case "status":
			err = run.Status(context.Background(), c.Status)
		}
		if err != nil {
			t.Fatalf("herald %v: %v", cmd, err)
		}
		return out.String()
	}
	var j journey.Journey
	waitFor(t, func() bool {
		j = journey.Journey{}
		if err := json.Unmarshal([]byte(run("trace", id, "--json")), &j); err != nil {
			return false
		}
		n := 0
		for _, c := range j.Consumers {
			if c.Outcome == journey.Applied || c.Outcome == journey.Delivered {
				n++
			}
		}
		return n == len(j.Consumers) && n > 0
	}, func() string { return run("trace", id) })
	if j.Committed == nil || j.Committed.Service != "gateway" || j.Published == nil || j.TraceID == "" {
		t.Fatalf("journey of a gateway event: %+v", j)
	}
	text := run("trace", id)
	for _, want := range []string{"PostCreated", "published", "BLOG #", "applied", "blog-query (blog-query)", "POST /events", "send blog.event.PostCreated", "process blog.event.PostCreated", "gateway (blog-push-"} {
		if !strings.Contains(text, want) {
			t.Errorf("herald trace lacks %q:\n%s", want, text)
		}
	}
	if byTrace := run("trace", j.TraceID); !strings.Contains(byTrace, id) {
		t.Errorf("herald trace <trace id> does not find the event %s:\n%s", id, byTrace)
	}

	// The push carried the trace on to the subscriber.
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return pushed[id] != "" }, func() string { return fmt.Sprint(pushed) })
	mu.Lock()
	tp := pushed[id]
	mu.Unlock()
	if sc := observe.Remote(tp); !sc.IsValid() || sc.TraceID().String() != j.TraceID {
		t.Errorf("the push's traceparent %q is not in the event's trace %s", tp, j.TraceID)
	}

	// The same lag and outbox age, for Prometheus.
	for name, want := range map[string]string{
		"blog-query": `herald_consumer_lag_seconds{consumer="blog-query"} 0`,
		"posts":      "herald_outbox_oldest_seconds 0",
	} {
		_, b, _ := callAs(operatorToken(t, flags.Data), http.MethodGet, url(name)+"/metrics", nil)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s's /metrics lacks %q", name, want)
		}
	}

	st := run("status")
	for _, want := range []string{"SERVICE", "LAG", "blog-query", "blog-moderation", "outbox relay", "gateway"} {
		if !strings.Contains(st, want) {
			t.Errorf("herald status lacks %q:\n%s", want, st)
		}
	}
	var all []struct {
		Service string
		Status  *service.Status
	}
	if err := json.Unmarshal([]byte(run("status", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if a.Service == "blog-query" && (a.Status == nil || len(a.Status.Consumers) != 1 || a.Status.Consumers[0].AckFloor < 2 || a.Status.Consumers[0].Pending != 0) {
			t.Errorf("blog-query's status: %+v", a.Status)
		}
	}
}

// TestStatusPrintsEachFailingConsumerUnderTheTable: herald status names a
// consumer that is retrying an event, with its attempt, since when and
// why, and says nothing of those that are not failing.
func TestStatusPrintsEachFailingConsumerUnderTheTable(t *testing.T) {
	since := time.Now().Add(-3 * time.Minute)
	all := []statusAnswer{
		{Service: "posts", Error: "connection refused"},
		{Service: "gateway", Status: &service.Status{Consumers: []service.ConsumerStatus{
			{ConsumerState: jetstream.ConsumerState{Name: "blog-push-flag-1", Stream: "BLOG"}, Failing: &service.Failing{
				Since: since, At: time.Now(), Attempt: 5, MaxDeliver: 15, Sequence: 12, Event: "019aa8f0", Error: "Post \"http://127.0.0.1:4002/events\": connection refused\nmore",
			}},
			{ConsumerState: jetstream.ConsumerState{Name: "blog-push-flag-2", Stream: "BLOG"}},
		}}},
	}
	var out bytes.Buffer
	printFailing(&out, all)
	got := out.String()
	want := `gateway: blog-push-flag-1 failing since 3m0s ago: attempt 5 of 15 at BLOG #12 (event 019aa8f0): Post "http://127.0.0.1:4002/events": connection refused`
	if !strings.HasPrefix(got, want) || strings.Count(got, "\n") != 1 || strings.Contains(got, "flag-2") {
		t.Fatalf("printed\n%s\nwant one line\n%s", got, want)
	}
}
