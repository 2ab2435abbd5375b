package blog_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldev/herald/internal/testenv"
)

// badRow is one request a blog service must refuse: with the exact status, as
// RFC 9457 problem details, naming the offending field when there is one,
// and without writing or publishing anything.
type badRow struct {
	op          string // the Huma operation id, or no-route
	svc         string // posts, comments, moderation or blog-query
	method      string
	path        string
	name        string
	body        string // sent as is when set
	contentType string // default application/json when body is set
	status      int
	loc         string // an errors[].location the problem must name; "" = none required
	msg         string // text that error's message must contain, if set
}

// problemBody is an RFC 9457 problem-details body as Huma writes it.
type problemBody struct {
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

func TestBadInputIsRefusedWithProblemDetailsAndPublishesNothing(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	// Valid setup: a post that comments knows, so that the only thing wrong
	// with each comment row below is the row's own fault.
	postID := createPost(t, s["posts"], "Known")
	c := addComment(t, s["comments"], postID, "setup")
	c.Status = "approved"
	waitView(t, s["blog-query"], map[string]post{postID: {ID: postID, Title: "Known", Comments: []comment{c}}})
	before := len(settledEvents(t, e, s)) // the setup's 4 events, moderation and all

	long := func(n int) string { return strings.Repeat("x", n) }
	js := func(k, v string) string { return render(t, map[string]string{k: v}) }
	var rows []badRow
	// body adds the rows every endpoint with a JSON body of one string
	// field must refuse alike, limit being the field's longest length.
	body := func(op, svc, path, field string, limit int) {
		valid := js(field, "ok")
		for _, r := range []badRow{
			{name: "malformed JSON", body: `{"` + field + `":`, status: 400, loc: "body"},
			{name: "trailing JSON", body: valid + ` {}`, status: 400, loc: "body"},
			{name: "array body", body: `[` + valid + `]`, status: 422, loc: "body"},
			{name: "null body", body: `null`, status: 422, loc: "body"},
			{name: "empty body", body: "", contentType: "application/json", status: 400},
			{name: "text-plain body", body: valid, contentType: "text/plain", status: 415},
			{name: "unknown field", body: `{"` + field + `":"ok","x":1}`, status: 422, loc: "body.x"},
			{name: "second key differing in case", body: `{"` + field + `":"ok","` + strings.ToUpper(field) + `":"ok"}`, status: 422, loc: "body." + strings.ToUpper(field)},
			{name: "missing " + field, body: `{}`, status: 422, loc: "body." + field, msg: "is required"},
			{name: "empty " + field, body: js(field, ""), status: 422, loc: "body." + field},
			{name: "blank " + field, body: js(field, " \t "), status: 422, loc: "body." + field, msg: "blank"},
			{name: field + " too long", body: js(field, long(limit+1)), status: 422, loc: "body." + field},
			{name: field + " is a number", body: `{"` + field + `":1}`, status: 422, loc: "body." + field},
			{name: field + " is null", body: `{"` + field + `":null}`, status: 422, loc: "body." + field},
			{name: field + " is an object", body: `{"` + field + `":{}}`, status: 422, loc: "body." + field},
		} {
			r.op, r.svc, r.method, r.path = op, svc, "POST", path
			rows = append(rows, r)
		}
	}
	body("create-post", "posts", "/posts", "title", 200)
	body("create-comment", "comments", "/posts/"+postID+"/comments", "content", 5000)
	rows = append(rows,
		badRow{op: "get-post", svc: "posts", method: "GET", path: "/posts/nope", name: "unknown post", status: 404},
		badRow{op: "get-post", svc: "posts", method: "GET", path: "/posts/" + long(201), name: "id too long", status: 422, loc: "path.id"},
		badRow{op: "create-comment", svc: "comments", method: "POST", path: "/posts/nope/comments", name: "unknown post", body: `{"content":"hi"}`, status: 404},
		badRow{op: "create-comment", svc: "comments", method: "POST", path: "/posts/" + long(201) + "/comments", name: "post id too long", body: `{"content":"hi"}`, status: 422, loc: "path.id"},
		badRow{op: "list-comments", svc: "comments", method: "GET", path: "/posts/nope/comments", name: "unknown post", status: 404},
		badRow{op: "list-comments", svc: "comments", method: "GET", path: "/posts/" + url.PathEscape("a/b") + "/comments", name: "escaped slash in id", status: 404},
		badRow{op: "no-route", svc: "blog-query", method: "POST", path: "/posts", name: "query is read-only", body: `{"title":"x"}`, status: 405},
		badRow{op: "no-route", svc: "moderation", method: "GET", path: "/posts", name: "moderation has no API", status: 404},
		badRow{op: "no-route", svc: "posts", method: "DELETE", path: "/posts/" + postID, name: "method not allowed", status: 405},
	)

	for _, r := range rows {
		t.Run(r.svc+"/"+r.op+"/"+r.name, func(t *testing.T) {
			ct := r.contentType
			if ct == "" && r.body != "" {
				ct = "application/json"
			}
			code, h, raw := testenv.Send(t, r.method, s[r.svc].URL()+r.path, ct, strings.NewReader(r.body))
			show := fmt.Sprintf("%s %.80s: %.400s", r.method, r.path, raw)
			if code != r.status {
				t.Errorf("status %d, want %d; %s", code, r.status, show)
			}
			if got := h.Get("Content-Type"); !strings.HasPrefix(got, "application/problem+json") {
				t.Errorf("Content-Type %q, want application/problem+json; %s", got, show)
			}
			var p problemBody
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("not a problem: %v; %s", err, show)
			}
			if p.Status != code || p.Detail == "" {
				t.Errorf("problem status %d (HTTP %d), detail %q; %s", p.Status, code, p.Detail, show)
			}
			if r.loc == "" {
				return
			}
			for _, d := range p.Errors {
				if d.Location == r.loc && strings.Contains(d.Message, r.msg) {
					return
				}
			}
			t.Errorf("no error at %q mentioning %q; %s", r.loc, r.msg, show)
		})
	}

	// Nothing above committed or published anything.
	if after := settledEvents(t, e, s); len(after) != before {
		t.Errorf("bad input published %d events", len(after)-before)
		for _, m := range after[before:] {
			t.Logf("published %s: %s", m.Subject, m.Data)
		}
	}
	var ps map[string]post
	testenv.MustDo(t, http.StatusOK, "GET", s["posts"].URL()+"/posts", nil, &ps)
	var cs []comment
	testenv.MustDo(t, http.StatusOK, "GET", commentsURL(s["comments"], postID), nil, &cs)
	if len(ps) != 1 || len(cs) != 1 {
		t.Errorf("after bad input: %d posts, %d comments; want the setup's 1 and 1", len(ps), len(cs))
	}
}
