package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// TestGatewayRefusesEventsHeraldServicesOwn is the door of issue 16: with
// the whole blog running in Herald, an outside client posts each of the
// four types posts, comments and moderation own to the gateway, over a
// real post and a comment moderation rejected. Each is refused 403 with a
// detail naming the owner; nothing is stored; the view is unchanged. The
// gateway's own NATS identity may not publish them either.
func TestGatewayRefusesEventsHeraldServicesOwn(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir, "blog")
	url := func(name string) string { return m.Service(name).URL() }
	post := createPost(t, url("posts"), "the original")
	comment := createComment(t, url("comments"), post, "I like orange juice")
	want := map[string]blogPost{post: {ID: post, Title: "the original", Comments: []blogComment{
		{ID: comment, Content: "I like orange juice", Status: "rejected"},
	}}}
	waitView(t, "blog-query", url("blog-query"), want)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := m.bus.LastSeq(ctx, event.BlogStream)
	if err != nil {
		t.Fatal(err)
	}

	approved := map[string]string{"id": comment, "postId": post, "content": "I like orange juice", "status": "approved"}
	for _, forged := range []struct {
		typ, owner string
		data       any
	}{
		{event.PostCreated, "posts", map[string]string{"id": post, "title": "overwritten"}},
		{event.CommentCreated, "comments", approved},
		{event.CommentModerated, "moderation", approved},
		{event.CommentUpdated, "comments", approved},
	} {
		status, b, _ := call(http.MethodPost, url("gateway")+"/events", map[string]any{"type": forged.typ, "data": forged.data})
		if status != http.StatusForbidden || !strings.Contains(string(b), "Herald's "+forged.owner+" service") {
			t.Errorf("POST /events %s: %d %s, want 403 naming %s as its owner", forged.typ, status, b, forged.owner)
		}
	}
	// Nor may the gateway's identity publish them on the bus itself.
	gw := dialAs(t, m.server.ClientURL(), natsSecrets(dir), "gateway")
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	err = gw.Publish(pctx, event.BlogSubject(event.PostCreated), "forged-by-gateway", []byte(`{}`))
	pcancel()
	if !errors.Is(err, jetstream.ErrDenied) {
		t.Errorf("the gateway's identity publishing PostCreated: %v, want a refusal", err)
	}
	after, err := m.bus.LastSeq(ctx, event.BlogStream)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the blog stream grew from %d to %d events: a forged event was stored", before, after)
	}
	got, raw, err := getPosts(url("blog-query"))
	if err != nil {
		t.Fatal(err)
	}
	if mustJSON(got) != mustJSON(want) {
		t.Fatalf("after the refused forgeries blog-query shows %s, want %s", raw, mustJSON(want))
	}
	// A type no Herald service owns still passes: the gateway stays the
	// tutorial's bus for everything else.
	postEvent(t, url("gateway"), map[string]any{"type": "PostLiked", "data": map[string]string{"id": post}})
}

// TestTutorialServicesPostEveryTypeThroughTheGatewayAlone: herald up
// gateway runs no blog service of Herald's, so every blog type's owner is
// outside, as in the tutorial, and the gateway takes all four.
func TestTutorialServicesPostEveryTypeThroughTheGatewayAlone(t *testing.T) {
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: testFlags(t.TempDir()), Targets: []string{"gateway"}}); err != nil {
		t.Fatal(err)
	}
	defer closeMain(t, m)
	gw := m.Service("gateway").URL()
	comment := map[string]string{"id": "c1", "postId": "p1", "content": "hello", "status": "pending"}
	moderated := map[string]string{"id": "c1", "postId": "p1", "content": "hello", "status": "approved"}
	for _, ev := range []map[string]any{
		{"type": event.PostCreated, "data": map[string]string{"id": "p1", "title": "from the tutorial"}},
		{"type": event.CommentCreated, "data": comment},
		{"type": event.CommentModerated, "data": moderated},
		{"type": event.CommentUpdated, "data": moderated},
	} {
		postEvent(t, gw, ev)
	}
	status, b, _ := call(http.MethodGet, gw+"/events", nil)
	if status != http.StatusOK || strings.Count(string(b), `"type"`) != 4 {
		t.Fatalf("GET /events: %d %s, want the four events", status, b)
	}
}

// TestGatewayTokenNamesTheTypesItMayPost: with --gateway-token, /events
// needs a token, and each token may post only the types it names.
func TestGatewayTokenNamesTheTypesItMayPost(t *testing.T) {
	f := testFlags(t.TempDir())
	f.GatewayToken = map[string]string{"posts-service-token-0123": "PostCreated", "reader-token-0123456789": "PostLiked"}
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	if err := m.Up(context.Background(), upCmd{serviceFlags: f, Targets: []string{"gateway"}}); err != nil {
		t.Fatal(err)
	}
	defer closeMain(t, m)
	gw := m.Service("gateway").URL() + "/events"
	created := map[string]any{"type": event.PostCreated, "data": map[string]string{"id": "p1", "title": "t"}}
	for _, c := range []struct {
		name, tok, method string
		body              any
		want              int
	}{
		{"no token", "", http.MethodPost, created, http.StatusUnauthorized},
		{"an unknown token", "not-a-gateway-token-at-all", http.MethodPost, created, http.StatusUnauthorized},
		{"a token for the type", "posts-service-token-0123", http.MethodPost, created, http.StatusOK},
		{"a token for another type", "reader-token-0123456789", http.MethodPost, created, http.StatusForbidden},
		{"reading without a token", "", http.MethodGet, nil, http.StatusUnauthorized},
		{"reading with a token", "reader-token-0123456789", http.MethodGet, nil, http.StatusOK},
		{"reading as the operator", operatorToken(t, f.Data), http.MethodGet, nil, http.StatusOK},
	} {
		status, b, h := callAs(c.tok, c.method, gw, c.body)
		if status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, status, b, c.want)
		}
		if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without WWW-Authenticate: Bearer", c.name)
		}
	}
}
