package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
)

// TestEveryShapeIsStoredBeforeOK posts one event in each shape and checks
// that by the time the answer is 200 {"status":"OK"} the event is in the
// stream, at the answered position, as a CloudEvent Herald's consumers parse.
func TestEveryShapeIsStoredBeforeOK(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		typ     string
	}{
		{"tutorial", jsonCT("application/json"), tutorial("p1"), event.PostCreated},
		{"tutorial without content type", nil, `{"type":"Other.thing","data":{"x":1}}`, "Other.thing"},
		{"structured", jsonCT("application/cloudevents+json"),
			`{"specversion":"1.0","id":"ce-1","source":"/test","type":"PostCreated","time":"2024-01-02T03:04:05Z","data":{"id":"p2","title":"two"},"myext":"kept"}`, event.PostCreated},
		{"structured as application/json", jsonCT("application/json; charset=utf-8"),
			`{"specversion":"1.0","id":"ce-2","source":"/test","type":"Unknown_type","data":[1,2]}`, "Unknown_type"},
		{"binary", map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "ce-3", "ce-source": "/bin",
			"ce-type": "CommentCreated", "ce-subject": "p2", "ce-time": "2024-01-02T03:04:05Z", "ce-entityversion": "3", "ce-traceext": "a%20b"},
			`{"id":"c1","postId":"p2","content":"hi","status":"pending"}`, event.CommentCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := send(t, "POST", e.url("/events"), tc.headers, tc.body)
			if a.code != http.StatusOK || string(a.body) != `{"status":"OK"}`+"\n" {
				t.Fatalf("POST: %s", a)
			}
			pos, err := strconv.ParseUint(a.header.Get("Herald-Position"), 10, 64)
			if err != nil {
				t.Fatalf("Herald-Position %q: %v", a.header.Get("Herald-Position"), err)
			}
			msgs, err := e.bus.Read(context.Background(), event.BlogStream, nil, pos, 1)
			if err != nil || len(msgs) != 1 || msgs[0].Sequence != pos {
				t.Fatalf("read position %d: %v %v", pos, msgs, err)
			}
			m := msgs[0]
			if m.Subject != event.BlogSubject(tc.typ) {
				t.Errorf("subject %s, want %s", m.Subject, event.BlogSubject(tc.typ))
			}
			env, err := event.Parse(m.Data)
			if err != nil {
				t.Fatalf("stored event does not parse: %v: %s", err, m.Data)
			}
			if env.Type != tc.typ || env.ID != a.header.Get("Herald-Event-Id") {
				t.Errorf("stored %s %s, answered id %s", env.Type, env.ID, a.header.Get("Herald-Event-Id"))
			}
			if got := m.Header["Nats-Msg-Id"]; len(got) != 1 || got[0] != env.ID {
				t.Errorf("Nats-Msg-Id %v, want %s", got, env.ID)
			}
		})
	}
	t.Run("stored forms", func(t *testing.T) {
		msgs, _ := e.bus.Read(context.Background(), event.BlogStream, nil, 0, 0)
		var tut, bin map[string]any
		json.Unmarshal(msgs[0].Data, &tut)
		if tut["source"] != "/blog/gateway" || tut["datacontenttype"] != "application/json" || tut["specversion"] != "1.0" || tut["time"] == nil {
			t.Errorf("tutorial event stored as %s", msgs[0].Data)
		}
		if !strings.Contains(string(msgs[2].Data), `"myext":"kept"`) {
			t.Errorf("structured event lost its extension: %s", msgs[2].Data)
		}
		if msgs[0].Header["Herald-Shape"][0] != "tutorial" || msgs[2].Header["Herald-Shape"][0] == "tutorial" {
			t.Errorf("shape headers %v and %v", msgs[0].Header, msgs[2].Header)
		}
		json.Unmarshal(msgs[4].Data, &bin)
		if bin["subject"] != "p2" || bin["entityversion"] != 3.0 || bin["traceext"] != "a b" || bin["datacontenttype"] != "application/json" {
			t.Errorf("binary event stored as %s", msgs[4].Data)
		}
	})
	metrics := string(send(t, "GET", e.url("/metrics"), nil, "").body)
	for _, want := range []string{`herald_gateway_events_accepted_total{shape="tutorial"} 2`,
		`herald_gateway_events_accepted_total{shape="structured"} 2`, `herald_gateway_events_accepted_total{shape="binary"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestHistoryReturnsEveryEventInOrderInItsPostedShape checks GET /events:
// tutorial events come back as {type, data}, CloudEvents as stored.
func TestHistoryReturnsEveryEventInOrderInItsPostedShape(t *testing.T) {
	e := newEnv(t)
	if a, items := e.history(""); len(items) != 0 || a.header.Get("Herald-Last-Position") != "0" {
		t.Fatalf("empty history: %s", a)
	}
	ce := `{"specversion":"1.0","id":"ce-1","source":"/test","type":"PostCreated","data":{"id":"p2","title":"two"},"ext":"x"}`
	e.postEvent(tutorial("p1"))
	e.postEvent(ce)
	e.postEvent(tutorial("p3"))
	a, items := e.history("")
	if len(items) != 3 {
		t.Fatalf("%d events: %s", len(items), a.body)
	}
	if got := decodeTutorial(t, items[0]); got.Type != "PostCreated" || string(got.Data) != `{"id":"p1","title":"title p1"}` {
		t.Errorf("first: %s", items[0])
	}
	var second map[string]any
	json.Unmarshal(items[1], &second)
	if second["id"] != "ce-1" || second["ext"] != "x" || second["type"] != "PostCreated" {
		t.Errorf("second: %s", items[1])
	}
	if postID(t, items[2]) != "p3" {
		t.Errorf("third: %s", items[2])
	}
	if a.header.Get("Herald-Last-Position") != "3" || a.header.Get("Link") != "" {
		t.Errorf("headers %v", a.header)
	}
}

// TestHistoryPagesWithAfterAndLimit reads 25 events in pages of 10 by
// following the Link header, and from the middle with after.
func TestHistoryPagesWithAfterAndLimit(t *testing.T) {
	e := newEnv(t)
	for i := range 25 {
		e.postEvent(tutorial(fmt.Sprint(i)))
	}
	var got []string
	next, pages := "/events?limit=10", 0
	for next != "" {
		a, items := e.history(strings.TrimPrefix(next, "/events"))
		pages++
		for _, it := range items {
			got = append(got, postID(t, it))
		}
		if want := strconv.Itoa(min(pages*10, 25)); a.header.Get("Herald-Last-Position") != want {
			t.Errorf("page %d: Herald-Last-Position %q, want %s", pages, a.header.Get("Herald-Last-Position"), want)
		}
		next = ""
		if link := a.header.Get("Link"); link != "" {
			if !strings.HasSuffix(link, `>; rel="next"`) {
				t.Fatalf("Link %q", link)
			}
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if pages != 3 || strings.Join(got, ",") != "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24" {
		t.Fatalf("%d pages: %v", pages, got)
	}
	a, items := e.history("?after=20")
	if len(items) != 5 || postID(t, items[0]) != "20" || a.header.Get("Herald-Last-Position") != "25" {
		t.Errorf("after=20: %s", a)
	}
	if a, items := e.history("?after=25&limit=5"); len(items) != 0 || a.header.Get("Link") != "" || a.header.Get("Herald-Last-Position") != "25" {
		t.Errorf("after the end: %s %v", a, a.header)
	}
	if a, items := e.history("?after=99"); len(items) != 0 || a.header.Get("Herald-Last-Position") != "99" {
		t.Errorf("after beyond the end: %s %v", a, a.header)
	}
}

// TestHistoryLongerThanAChunkIsStreamedWhole checks that more events than
// one read chunk come back whole and in order.
func TestHistoryLongerThanAChunkIsStreamedWhole(t *testing.T) {
	e := newEnv(t)
	const n = 2100
	for i := range n {
		ce := fmt.Sprintf(`{"specversion":"1.0","id":"%d","source":"/t","type":"PostCreated","data":{"id":"%d","title":"t"}}`, i, i)
		if _, err := e.bus.PublishHeader(context.Background(), event.BlogSubject("PostCreated"), fmt.Sprint(i),
			map[string]string{"Herald-Shape": "tutorial"}, []byte(ce)); err != nil {
			t.Fatal(err)
		}
	}
	_, items := e.history("")
	if len(items) != n {
		t.Fatalf("%d events, want %d", len(items), n)
	}
	for i, it := range items {
		if id := postID(t, it); id != fmt.Sprint(i) {
			t.Fatalf("event %d has id %s", i, id)
		}
	}
	if _, items := e.history("?after=100&limit=1500"); len(items) != 1500 || postID(t, items[0]) != "100" {
		t.Fatalf("page of 1500: %d", len(items))
	}
}

// TestHistoryLeavesOutRedriveCopies checks that a redriven dead letter,
// which is stored on a redrive subject, is not part of GET /events.
func TestHistoryLeavesOutRedriveCopies(t *testing.T) {
	e := newEnv(t)
	e.postEvent(tutorial("p1"))
	if _, err := e.bus.PublishHeader(context.Background(), "blog.redrive.blog-push-x", "redrive/1", nil, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	e.postEvent(tutorial("p2"))
	if _, items := e.history(""); len(items) != 2 {
		t.Fatalf("%d events: %s", len(items), items)
	}
}

// TestCloudEventRetriedWithTheSameIDIsStoredOnce posts the same CloudEvent
// twice: both are answered OK with the same position, one is stored.
func TestCloudEventRetriedWithTheSameIDIsStoredOnce(t *testing.T) {
	e := newEnv(t)
	ce := `{"specversion":"1.0","id":"same","source":"/test","type":"X","data":{}}`
	a, b := e.postEvent(ce), e.postEvent(ce)
	if a.header.Get("Herald-Position") != b.header.Get("Herald-Position") || e.lastSeq() != 1 {
		t.Fatalf("positions %s and %s, last %d", a.header.Get("Herald-Position"), b.header.Get("Herald-Position"), e.lastSeq())
	}
}

// TestBadPageParametersAreProblems checks GET /events' parameter errors.
func TestBadPageParametersAreProblems(t *testing.T) {
	e := newEnv(t)
	for query, want := range map[string]int{
		"?after=x": 400, "?after=-1": 400, "?limit=ten": 400, "?limit=0": 422, "?limit=10001": 422, "?limit=-5": 422,
	} {
		a := send(t, "GET", e.url("/events"+query), nil, "")
		if a.code != want || a.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %s, want %d problem", query, a, want)
		}
	}
}

// TestTypesHeraldOwnsAreRefusedUnlessTheirOwnerIsExternal: a gateway whose
// blog runs in Herald refuses, 403 and nothing stored, the types posts,
// comments and moderation own, and takes the types it declares external
// and any type no Herald service owns.
func TestTypesHeraldOwnsAreRefusedUnlessTheirOwnerIsExternal(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.External = []string{event.CommentModerated} })
	comment := map[string]string{"id": "c1", "postId": "p1", "content": "hi", "status": "approved"}
	for _, c := range []struct {
		typ  string
		data any
		want int
	}{
		{event.PostCreated, map[string]string{"id": "p1", "title": "t"}, http.StatusForbidden},
		{event.CommentCreated, comment, http.StatusForbidden},
		{event.CommentUpdated, comment, http.StatusForbidden},
		{event.CommentModerated, comment, http.StatusOK}, // declared external
		{"PostLiked", map[string]string{"id": "p1"}, http.StatusOK},
	} {
		body, _ := json.Marshal(map[string]any{"type": c.typ, "data": c.data})
		resp := send(t, http.MethodPost, e.url("/events"), map[string]string{"Content-Type": "application/json"}, string(body))
		if resp.code != c.want {
			t.Errorf("POST %s: %d %s, want %d", c.typ, resp.code, resp.body, c.want)
		}
	}
	last, err := e.bus.LastSeq(context.Background(), event.BlogStream)
	if err != nil {
		t.Fatal(err)
	}
	if last != 2 {
		t.Fatalf("the stream holds %d events, want the 2 allowed", last)
	}
}
