package blog_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
)

func TestBlogFlowEndToEnd(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	for _, f := range []string{"blog-posts.db", "blog-comments.db", "blog-moderation.db", "blog-query.db"} {
		if _, err := os.Stat(filepath.Join(e.dir, f)); err != nil {
			t.Fatalf("database file: %v", err)
		}
	}

	code, h, raw := testenv.Send(t, "POST", s["posts"].URL()+"/posts", "application/json", strings.NewReader(`{"title":"Herald"}`))
	if code != http.StatusCreated {
		t.Fatalf("create post: %d %s", code, raw)
	}
	var created post
	var listed map[string]post
	testenv.Do(t, "GET", s["posts"].URL()+"/posts", nil, &listed)
	for id := range listed {
		created = listed[id]
	}
	if len(listed) != 1 || h.Get("Location") != "/posts/"+created.ID || created.Title != "Herald" {
		t.Fatalf("posts lists %v after one create (Location %q)", listed, h.Get("Location"))
	}
	postID := created.ID
	testenv.MustDo(t, http.StatusOK, "GET", s["posts"].URL()+"/posts/"+postID, nil, nil)

	nice := addComment(t, s["comments"], postID, "nice post")
	juice := addComment(t, s["comments"], postID, "I like orange juice")
	shout := addComment(t, s["comments"], postID, "ORANGE")
	nice.Status, juice.Status, shout.Status = "approved", "rejected", "rejected"
	want := []comment{nice, juice, shout}
	waitView(t, s["blog-query"], map[string]post{postID: {ID: postID, Title: "Herald", Comments: want}})

	// By the time the query service shows a status, comments has it too:
	// it committed the change with the CommentUpdated event.
	var got []comment
	testenv.MustDo(t, http.StatusOK, "GET", commentsURL(s["comments"], postID), nil, &got)
	if render(t, got) != render(t, want) {
		t.Fatalf("comments shows %v, want %v", got, want)
	}

	// Each service emitted exactly its events, CommentUpdated at version 2.
	counts := map[string]int{}
	for _, m := range settledEvents(t, e, s) {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		counts[ev.Type]++
		if m.Subject != event.Subject(ev.Type) {
			t.Errorf("%s travelled on %s", ev.Type, m.Subject)
		}
		if ev.Type == event.CommentUpdated && ev.EntityVersion != 2 {
			t.Errorf("CommentUpdated %s at version %d, want 2", ev.Data, ev.EntityVersion)
		}
	}
	if want := map[string]int{"PostCreated": 1, "CommentCreated": 3, "CommentModerated": 3, "CommentUpdated": 3}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("events %v, want %v", counts, want)
	}
}

func TestBannedWordsAreConfigurable(t *testing.T) {
	e := newEnv(t)
	s := map[string]*svc{}
	for _, n := range blog.Services {
		s[n] = e.start(n, withBannedWords("Durian", "kiwi"))
	}
	postID := createPost(t, s["posts"], "Fruit")
	orange := addComment(t, s["comments"], postID, "I like orange juice")
	durian := addComment(t, s["comments"], postID, "durian smells")
	kiwi := addComment(t, s["comments"], postID, "KIWIS!")
	orange.Status, durian.Status, kiwi.Status = "approved", "rejected", "rejected"
	waitView(t, s["blog-query"], map[string]post{postID: {ID: postID, Title: "Fruit", Comments: []comment{orange, durian, kiwi}}})

	// A blank word would reject everything: it is refused before anything opens.
	_, err := blog.Build(context.Background(), "moderation", blog.Config{Config: service.Config{DataDir: t.TempDir()}, BannedWords: []string{"kiwi", " "}}, e.bus)
	if err == nil || !strings.Contains(err.Error(), "blank") {
		t.Fatalf("blank banned word: %v, want an error saying so", err)
	}
}

func TestUnknownServiceIsAnErrorListingTheServices(t *testing.T) {
	_, err := blog.Build(context.Background(), "query", blog.Config{Config: service.Config{DataDir: t.TempDir()}}, nil)
	if err == nil || !strings.Contains(err.Error(), "blog-query") {
		t.Fatalf("unknown service: %v, want an error listing the services", err)
	}
}

// blogHistory runs a small but complete history through the write services:
// two posts, a post without comments, approved and rejected comments. It
// returns the view the query service must show.
func blogHistory(t *testing.T, s map[string]*svc) map[string]post {
	t.Helper()
	first := createPost(t, s["posts"], "First")
	second := createPost(t, s["posts"], "Second")
	quiet := createPost(t, s["posts"], "Nobody comments")
	a := addComment(t, s["comments"], first, "nice post")
	b := addComment(t, s["comments"], second, "oranges!")
	c := addComment(t, s["comments"], first, "Orange you glad")
	d := addComment(t, s["comments"], second, "agreed")
	a.Status, b.Status, c.Status, d.Status = "approved", "rejected", "rejected", "approved"
	want := map[string]post{
		first:  {ID: first, Title: "First", Comments: []comment{a, c}},
		second: {ID: second, Title: "Second", Comments: []comment{b, d}},
		quiet:  {ID: quiet, Title: "Nobody comments", Comments: []comment{}},
	}
	waitView(t, s["blog-query"], want)
	return want
}

func TestQueryAnswersWhilePostsCommentsAndModerationAreDown(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := blogHistory(t, s)

	for _, name := range []string{"posts", "comments", "moderation"} {
		s[name].MustStop()
		if resp, err := http.Get(s[name].URL() + "/livez"); err == nil {
			resp.Body.Close()
			t.Fatalf("%s still answers after stop", name)
		}
	}
	if code, got := view(t, s["blog-query"]); code != http.StatusOK || got != render(t, want) {
		t.Fatalf("with the writers down: %d %s\nwant %s", code, got, render(t, want))
	}
	testenv.MustDo(t, http.StatusOK, "GET", s["blog-query"].URL()+"/readyz", nil, nil)
}

func TestNewQueryServiceBuildsViewFromHistory(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := blogHistory(t, s)
	before := dump(t, s["blog-query"].DB)
	s["blog-query"].MustStop()

	fresh := e.start("blog-query", withDataDir(t.TempDir())) // empty database, same consumer name
	waitView(t, fresh, want)
	if got := dump(t, fresh.DB); got != before {
		t.Fatalf("rebuilt read model differs:\n%s\nwant:\n%s", got, before)
	}
}

func TestEveryEventDeliveredTwiceAndShuffledGivesSameView(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := blogHistory(t, s)
	before := dump(t, s["blog-query"].DB)
	history := settledEvents(t, e, s)
	perType := map[string]int64{}
	for _, m := range history {
		ev, err := event.Parse(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		perType[ev.Type]++
	}

	t.Run("twice", func(t *testing.T) {
		for _, m := range history {
			// A fresh message id gets past JetStream's duplicate window: only
			// the consumers' own records of event ids stand between them and
			// a double apply.
			if err := e.bus.Publish(context.Background(), m.Subject, event.NewID(), m.Data); err != nil {
				t.Fatal(err)
			}
		}
		// The query consumer handles events in stream order: once a post
		// created after the duplicates is visible, it has handled them all.
		sentinel := createPost(t, s["posts"], "Sentinel")
		want := union(want, map[string]post{sentinel: {ID: sentinel, Title: "Sentinel", Comments: []comment{}}})
		waitView(t, s["blog-query"], want)

		wantDups := map[string]int64{
			"comments":   perType[event.PostCreated] + perType[event.CommentModerated],
			"moderation": perType[event.CommentCreated],
			"blog-query": perType[event.PostCreated] + perType[event.CommentCreated] + perType[event.CommentUpdated],
		}
		testenv.Eventually(t, 15*time.Second, func() error {
			for name, n := range wantDups {
				if got := s[name].Duplicates(); got != n {
					return fmt.Errorf("%s absorbed %d duplicates, want %d (one per republished event it consumes)", name, got, n)
				}
			}
			return nil
		})
		// Nobody acted on a duplicate: no second decision, no second update.
		if n := len(settledEvents(t, e, s)); n != 2*len(history)+1 {
			t.Fatalf("stream has %d events, want %d (history twice and the sentinel)", n, 2*len(history)+1)
		}
		after := dump(t, s["blog-query"].DB)
		after = strings.Join(slices.DeleteFunc(strings.SplitAfter(after, "\n"), func(l string) bool {
			return strings.Contains(l, sentinel)
		}), "")
		if after != before {
			t.Fatalf("read model changed by duplicates:\n%s\nwas:\n%s", after, before)
		}
	})

	var relevant []int
	for i, m := range history {
		if m.Subject != event.Subject(event.CommentModerated) {
			relevant = append(relevant, i)
		}
	}
	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("shuffled/seed=%d", seed), func(t *testing.T) {
			shuffled := newEnv(t)
			order := slices.Clone(relevant)
			r := rand.New(rand.NewPCG(seed, 42))
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, i := range order {
				m := history[i]
				if err := shuffled.bus.Publish(context.Background(), m.Subject, m.Header["Nats-Msg-Id"][0], m.Data); err != nil {
					t.Fatal(err)
				}
			}
			query := shuffled.start("blog-query")
			testenv.Eventually(t, 20*time.Second, func() error {
				var n int
				if err := query.DB.QueryRow(`SELECT count(*) FROM processed_events`).Scan(&n); err != nil {
					return err
				}
				if n != len(order) {
					return fmt.Errorf("%d of %d events applied", n, len(order))
				}
				return nil
			})
			if got := dump(t, query.DB); got != before {
				t.Fatalf("shuffled read model:\n%s\nin-order read model:\n%s", got, before)
			}
			waitView(t, query, want)
		})
	}
}

// union returns the union of a and b.
func union(a, b map[string]post) map[string]post {
	out := map[string]post{}
	for _, m := range []map[string]post{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestCommentOnUnknownPostIs404AndPublishesNothing(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	for _, r := range []struct{ method, contentType, body string }{
		{"POST", "application/json", `{"content":"hello?"}`},
		{"GET", "", ""},
	} {
		method := r.method
		code, h, raw := testenv.Send(t, method, commentsURL(s["comments"], "no-such-post"), r.contentType, strings.NewReader(r.body))
		if code != http.StatusNotFound || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") ||
			!strings.Contains(string(raw), "post no-such-post is not known to the comments service; if it was just created, retry in a moment") {
			t.Fatalf("%s on an unknown post: %d %s %s", method, code, h.Get("Content-Type"), raw)
		}
	}
	if n := len(settledEvents(t, e, s)); n != 0 {
		t.Fatalf("%d events published, want none", n)
	}
	var count int
	if err := s["comments"].DB.QueryRow(`SELECT count(*) FROM comments`).Scan(&count); err != nil || count != 0 {
		t.Fatalf("comments holds %d comments (%v), want none", count, err)
	}
}

func TestModerationOfUnknownCommentIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	s := map[string]*svc{"posts": e.start("posts"), "comments": e.start("comments")}

	bogus, err := event.New("/elsewhere", event.CommentModerated, "ghost", 2,
		event.CommentData{ID: "ghost", PostID: "p", Content: "boo", Status: event.StatusApproved})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := bogus.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bus.Publish(context.Background(), event.Subject(event.CommentModerated), bogus.ID, raw); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 15*time.Second, func() error {
		dead, err := e.bus.DeadLetters(context.Background(), "blog-comments")
		if err != nil {
			return err
		}
		if len(dead) != 1 {
			return fmt.Errorf("%d dead letters, want 1", len(dead))
		}
		if d := dead[0]; d.Attempts != 3 || d.ID != bogus.ID || !strings.Contains(d.Error, "comment ghost (post p) is not known") {
			t.Fatalf("dead letter %+v; want 3 attempts at the bogus event, saying the comment is unknown", d)
		}
		return nil
	})
	// The consumer moved on: a later post reaches comments.
	postID := createPost(t, s["posts"], "After")
	addComment(t, s["comments"], postID, "still working")
	for _, m := range settledEvents(t, e, s) {
		if m.Subject == event.Subject(event.CommentUpdated) {
			t.Fatalf("a CommentUpdated was published: %s", m.Data)
		}
	}
}

func TestBrowserOnAnotherOriginMayCallEveryService(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	const origin = "http://localhost:3000"
	for name, path := range map[string]string{
		"posts": "/posts", "comments": "/posts/x/comments", "blog-query": "/posts", "moderation": "/livez",
	} {
		code, h, _ := testenv.Send(t, "OPTIONS", s[name].URL()+path, "", nil,
			"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
		if code >= 300 || h.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s preflight of %s: status %d, Access-Control-Allow-Origin %q", name, path, code, h.Get("Access-Control-Allow-Origin"))
		}
		_, h, _ = testenv.Send(t, "GET", s[name].URL()+path, "", nil, "Origin", origin)
		if got := h.Get("Access-Control-Allow-Origin"); got != "*" && got != origin {
			t.Errorf("%s GET %s with Origin: Access-Control-Allow-Origin %q", name, path, got)
		}
	}
}

// dump renders the query service's whole read model as text, in a stable
// order, so two read models can be compared by content.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, title, version, event_us, event_id FROM posts ORDER BY id`,
		`SELECT id, post_id, content, status, version, event_us, event_id, created_us, created_seen FROM comments ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

func TestRebuiltModerationDecidesAgainAndChangesNoComment(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	want := blogHistory(t, s)
	history := settledEvents(t, e, s)
	s["moderation"].MustStop()

	// An empty moderation database replays every CommentCreated and decides
	// each comment again, alike: comments applies the four new decisions and
	// changes nothing.
	s["moderation"] = e.start("moderation", withDataDir(t.TempDir()))
	testenv.Eventually(t, 15*time.Second, func() error {
		if n := len(settledEvents(t, e, s)) - len(history); n != 4 {
			return fmt.Errorf("%d new decisions, want 4", n)
		}
		return nil
	})
	// A post and comment made now are behind the decisions in the stream:
	// once the query service shows the comment approved, comments has
	// handled every decision.
	sentinel := createPost(t, s["posts"], "Sentinel")
	c := addComment(t, s["comments"], sentinel, "nice")
	c.Status = "approved"
	want[sentinel] = post{ID: sentinel, Title: "Sentinel", Comments: []comment{c}}
	waitView(t, s["blog-query"], want)

	updates := 0
	for _, m := range settledEvents(t, e, s)[len(history):] {
		if m.Subject == event.Subject(event.CommentUpdated) {
			updates++
		}
	}
	if updates != 1 {
		t.Fatalf("%d CommentUpdated after the rebuild, want 1 (the new comment's); a repeated decision changed a comment", updates)
	}
}
