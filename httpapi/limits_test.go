package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

// Inputs shaped like the shop's and the blog's, each with the Resolve rules
// its service's fields want.
type userIn struct {
	Body struct {
		Name  string `json:"name" minLength:"1" maxLength:"200"`
		Email string `json:"email" minLength:"3" maxLength:"320" format:"email"`
	}
}

func (in *userIn) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	f := map[string]*string{"body.name": &in.Body.Name, "body.email": &in.Body.Email}
	return append(NotBlank(prefix, f), SingleLine(prefix, f)...)
}

type orderIn struct {
	Body struct {
		UserID    int64 `json:"userId" minimum:"1"`
		ProductID int64 `json:"productId" minimum:"1"`
	}
}

type commentIn struct {
	Body struct {
		Content string `json:"content" minLength:"1" maxLength:"5000"`
	}
}

func (in *commentIn) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return Text(prefix, map[string]*string{"body.content": &in.Body.Content})
}

type echoOut struct {
	Body any
}

// testServer is a Huma API behind Limits: POST /users, /orders and
// /comments echo what they decoded; POST /raw, a plain handler, echoes the
// body's bytes, and answers 500 if it cannot read them.
func testServer(l LimitOptions) http.Handler {
	mux := http.NewServeMux()
	api := NewAPI(mux, "test", "1")
	huma.Register(api, huma.Operation{OperationID: "create-user", Method: http.MethodPost, Path: "/users"},
		func(_ context.Context, in *userIn) (*echoOut, error) { return &echoOut{Body: in.Body}, nil })
	huma.Register(api, huma.Operation{OperationID: "create-order", Method: http.MethodPost, Path: "/orders"},
		func(_ context.Context, in *orderIn) (*echoOut, error) { return &echoOut{Body: in.Body}, nil })
	huma.Register(api, huma.Operation{OperationID: "create-comment", Method: http.MethodPost, Path: "/comments"},
		func(_ context.Context, in *commentIn) (*echoOut, error) { return &echoOut{Body: in.Body}, nil })
	mux.HandleFunc("POST /raw", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "pong") })
	return Limits(WithProblems(mux), l)
}

// req is one request to testServer.
type req struct {
	method, target string
	contentType    string // application/json when there is a body, unless set; "-" for none
	header         http.Header
	body           string
	chunked        bool  // send the body without a Content-Length
	contentLength  int64 // claim this Content-Length instead of the body's
}

func (q req) do(h http.Handler) *httptest.ResponseRecorder {
	method := q.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if q.body != "" || q.chunked {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(method, q.target, body)
	switch {
	case q.contentType == "-":
	case q.contentType != "":
		r.Header.Set("Content-Type", q.contentType)
	case body != nil:
		r.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range q.header {
		r.Header[k] = vs
	}
	if q.chunked {
		r.ContentLength = -1
	}
	if q.contentLength != 0 {
		r.ContentLength = q.contentLength
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkProblem fails t unless w is a problem with status, a detail
// containing detail and, if loc is set, an errors[] entry at loc.
func checkProblem(t *testing.T, w *httptest.ResponseRecorder, status int, detail, loc string) {
	t.Helper()
	show := fmt.Sprintf("%d %s: %.300s", w.Code, w.Header().Get("Content-Type"), w.Body)
	if w.Code != status {
		t.Errorf("status %d, want %d; %s", w.Code, status, show)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json; %s", ct, show)
	}
	var p huma.ErrorModel
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("not a problem: %v; %s", err, show)
	}
	if p.Status != w.Code {
		t.Errorf("problem status %d, HTTP status %d", p.Status, w.Code)
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail %q, want it to contain %q", p.Detail, detail)
	}
	if loc == "" {
		return
	}
	for _, d := range p.Errors {
		if d.Location == loc {
			return
		}
	}
	t.Errorf("no errors[] entry at %q; %s", loc, show)
}

func TestBadInputIsRefusedWithAProblemNamingIt(t *testing.T) {
	h := testServer(LimitOptions{})
	const email = `"email":"ada@example.com"`
	mib := strings.Repeat("x", 1<<20)
	for _, c := range []struct {
		name   string
		req    req
		status int
		detail string
		loc    string
	}{
		// 1. duplicate keys, at any depth, spelt any way
		{"duplicate key", req{target: "/orders", body: `{"userId":1,"productId":5,"productId":20}`},
			400, `duplicate key "productId" at byte 26 (body.productId)`, "body.productId"},
		{"duplicate key spelt with an escape", req{target: "/orders", body: `{"userId":1,"productId":5,"product\u0049d":20}`},
			400, `duplicate key "productId"`, "body.productId"},
		{"duplicate key sent chunked", req{target: "/users", body: `{"name":"a","name":"b",` + email + `}`, chunked: true},
			400, `duplicate key "name"`, "body.name"},
		{"duplicate key without a Content-Type", req{target: "/users", contentType: "-", body: `{"name":"a","name":"b",` + email + `}`},
			400, `duplicate key "name"`, "body.name"},
		{"duplicate key in a CloudEvent", req{target: "/raw", contentType: "application/cloudevents+json; charset=utf-8", body: `{"data":{"id":1,"id":2}}`},
			400, `duplicate key "id"`, "body.data.id"},
		{"duplicate key in a merge patch", req{target: "/raw", contentType: "Application/Merge-Patch+JSON", body: `{"a":1,"a":2}`},
			400, `duplicate key "a"`, "body.a"},

		// 2. control characters: anywhere in the body, then per field
		{"NUL in a name", req{target: "/users", body: `{"name":"a\u0000b",` + email + `}`},
			400, "control character U+0000 at byte 10 (body.name)", "body.name"},
		{"raw NUL in a name", req{target: "/users", body: "{\"name\":\"a\x00b\"," + email + "}"},
			400, "control character U+0000", "body.name"},
		{"escape sequence in a name", req{target: "/users", body: `{"name":"\u001b[2J",` + email + `}`},
			400, "control character U+001B", "body.name"},
		{"DEL in an email", req{target: "/users", body: "{\"name\":\"Ada\",\"email\":\"a\x7f@example.com\"}"},
			400, "control character U+007F", "body.email"},
		{"C1 control in a name", req{target: "/users", body: `{"name":"a\u0085",` + email + `}`},
			400, "control character U+0085", "body.name"},
		{"backspace in a comment", req{target: "/comments", body: `{"content":"a\bb"}`},
			400, "control character U+0008", "body.content"},
		{"tab in a name", req{target: "/users", body: `{"name":"a\tb",` + email + `}`},
			422, "body.name: must be one line without control characters; character 2 is U+0009", "body.name"},
		{"line feed in a name", req{target: "/users", body: `{"name":"a\nb",` + email + `}`},
			422, "character 2 is U+000A", "body.name"},
		{"line separator in a name", req{target: "/users", body: `{"name":"a\u2028b",` + email + `}`},
			422, "character 2 is U+2028", "body.name"},

		// 3. invalid UTF-8, lone surrogates
		{"invalid UTF-8", req{target: "/users", body: "{\"name\":\"a\xff\"," + email + "}"},
			400, "the body is not valid UTF-8 at byte 10 (body.name)", "body.name"},
		{"Latin-1 body", req{target: "/users", body: "{\"name\":\"Jos\xe9\"," + email + "}"},
			400, "not valid UTF-8 at byte 12", "body.name"},
		{"lone surrogate", req{target: "/users", body: `{"name":"\ud800",` + email + `}`},
			400, `lone surrogate \ud800 at byte 9 (body.name)`, "body.name"},
		{"lone low surrogate in a comment", req{target: "/comments", body: `{"content":"x\udfff"}`},
			400, `lone surrogate \udfff`, "body.content"},

		// 4. integers
		{"1e0 as an id", req{target: "/orders", body: `{"userId":1,"productId":1e0}`},
			422, "body.productId: must be an integer written with digits only, such as 5, not 1e0", "body.productId"},
		{"1.0 as an id", req{target: "/orders", body: `{"userId":1.0,"productId":1}`},
			422, "body.userId: must be an integer written with digits only, such as 5, not 1.0", "body.userId"},
		{"fraction as an id", req{target: "/orders", body: `{"userId":1,"productId":1.5}`},
			422, "body.productId: must be an integer, such as 5", "body.productId"},
		{"string as an id", req{target: "/orders", body: `{"userId":"1","productId":1}`},
			422, "body.userId: must be an integer, such as 5", "body.userId"},
		{"id over int64", req{target: "/orders", body: `{"userId":1,"productId":1e30}`},
			422, "body.productId: must be an integer that fits in 64 bits", "body.productId"},
		{"20-digit id", req{target: "/orders", body: `{"userId":1,"productId":99999999999999999999}`},
			422, "body.productId: must be an integer that fits in 64 bits", "body.productId"},

		// 5. sizes
		{"URL over 8 KiB", req{method: http.MethodGet, target: "/ping?q=" + strings.Repeat("a", 8<<10)},
			414, "the URL is 8200 bytes long, over the limit of 8 KiB", ""},
		{"headers over 32 KiB", req{method: http.MethodGet, target: "/ping", header: http.Header{"X-Pad": {strings.Repeat("a", 32<<10)}}},
			431, "over the limit of 32 KiB", ""},
		{"body over 1 MiB", req{target: "/users", body: `{"name":"` + mib + `"}`},
			413, "the body is 1048587 bytes, larger than the limit of 1 MiB", ""},
		{"chunked body over 1 MiB", req{target: "/users", body: `{"name":"` + mib + `"}`, chunked: true},
			413, "the body is larger than the limit of 1 MiB", ""},
		{"chunked binary body over 1 MiB", req{target: "/raw", contentType: "application/octet-stream", body: mib + "x", chunked: true},
			413, "the body is larger than the limit of 1 MiB", ""},
		{"body shorter than its Content-Length", req{target: "/users", body: `{"name":"a"}`, contentLength: 100},
			400, "the body ended after 12 of the 100 bytes its Content-Length announced", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkProblem(t, c.req.do(h), c.status, c.detail, c.loc)
		})
	}
}

func TestLimitsTakeTheirOptions(t *testing.T) {
	h := testServer(LimitOptions{MaxURL: 100, MaxHeader: 1000, MaxBody: 10})
	checkProblem(t, req{method: http.MethodGet, target: "/ping?" + strings.Repeat("a", 100)}.do(h), 414, "over the limit of 100 bytes", "")
	checkProblem(t, req{method: http.MethodGet, target: "/ping", header: http.Header{"X-Pad": {strings.Repeat("a", 1000)}}}.do(h), 431, "over the limit of 1000 bytes", "")
	checkProblem(t, req{target: "/raw", body: `{"a":"12345"}`}.do(h), 413, "larger than the limit of 10 bytes", "")
	for _, q := range []req{
		{method: http.MethodGet, target: "/ping?" + strings.Repeat("a", 93)}, // 100 bytes
		{target: "/raw", body: `{"a":"12"}`},                                 // 10 bytes
		{target: "/raw", body: `{"a":"12"}`, chunked: true},
	} {
		if w := q.do(h); w.Code != http.StatusOK {
			t.Errorf("%s %.50s: status %d, want 200: %s", q.method, q.target, w.Code, w.Body)
		}
	}
}

// TestAValidBodyReachesTheRouteByteForByte: what the route reads is what
// the client sent, whitespace, escapes and all.
func TestAValidBodyReachesTheRouteByteForByte(t *testing.T) {
	h := testServer(LimitOptions{})
	for _, q := range []req{
		{target: "/raw", body: " {\n\t\"name\" : \"A\\u0064a \\ud83d\\ude00 é\",\r\n \"tags\":[\"a\",\"a\"], \"n\":1e0 } "},
		{target: "/raw", body: `{"a":{"x":1},"b":{"x":1}}`, chunked: true},
		{target: "/raw", contentType: "application/cloudevents+json", body: `{"specversion":"1.0","data":{"text":"line\nline\ttab"}}`},
		{target: "/raw", contentType: "text/plain", body: `{"a":1,"a":2} "\u0000"`},                   // not JSON: not checked
		{target: "/raw", header: http.Header{"Content-Encoding": {"gzip"}}, body: "{\"a\":\"\x00\"}"}, // compressed: not checked
		{target: "/raw", contentType: "application/octet-stream", body: strings.Repeat("x", 1<<20), chunked: true},
	} {
		w := q.do(h)
		if w.Code != http.StatusOK || w.Body.String() != q.body {
			t.Errorf("%s %.40q: status %d, route read %.80q, want 200 and the body as sent", q.contentType, q.body, w.Code, w.Body)
		}
	}
	// And Huma decodes it as before.
	w := req{target: "/orders", body: `{"userId":7,"productId":20}`, chunked: true}.do(h)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"productId":20`) {
		t.Errorf("POST /orders: %d %s", w.Code, w.Body)
	}
	w = req{target: "/comments", body: `{"content":"line one\nline two\r\n\tindented"}`}.do(h)
	if w.Code != http.StatusOK {
		t.Errorf("POST /comments with line breaks and a tab: %d %s", w.Code, w.Body)
	}
}

// TestOverLongRequestsGetProblemsFromARealServer: with MaxHeaderBytes
// above Limits' sizes, a 100 KB URL or 40 KB of headers gets a problem, not
// net/http's plain-text 431.
func TestOverLongRequestsGetProblemsFromARealServer(t *testing.T) {
	srv := httptest.NewUnstartedServer(testServer(LimitOptions{}))
	srv.Config.MaxHeaderBytes = 1 << 20
	srv.Start()
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name   string
		url    string
		header http.Header
		status int
	}{
		{"100 KB URL", srv.URL + "/ping?q=" + strings.Repeat("a", 100<<10), nil, http.StatusRequestURITooLong},
		{"40 KB of headers", srv.URL + "/ping", http.Header{"X-Pad": {strings.Repeat("a", 40<<10)}}, http.StatusRequestHeaderFieldsTooLarge},
	} {
		r, err := http.NewRequest(http.MethodGet, c.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			r.Header[k] = v
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %.200s, want %d application/problem+json", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), body, c.status)
		}
	}
	// 2 MiB bodies: refused unread by their Content-Length, or cut off
	// when sent chunked (a reader of unknown length).
	for _, c := range []struct {
		name, path, contentType string
		body                    io.Reader
	}{
		{"2 MiB JSON", "/users", "application/json", strings.NewReader(`{"name":"` + strings.Repeat("x", 2<<20) + `"}`)},
		{"2 MiB JSON chunked", "/users", "application/json", io.MultiReader(strings.NewReader(`{"name":"` + strings.Repeat("x", 2<<20) + `"}`))},
		{"2 MiB binary chunked", "/raw", "application/octet-stream", io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<20)))},
	} {
		resp, err := srv.Client().Post(srv.URL+c.path, c.contentType, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Contains(body, []byte("larger than the limit of 1 MiB")) {
			t.Errorf("%s: %d %.200s, want 413", c.name, resp.StatusCode, body)
		}
	}
}

// TestLimitsCostARequestWithoutABodyNoAllocation: reads usually have none.
func TestLimitsCostARequestWithoutABodyNoAllocation(t *testing.T) {
	h := Limits(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), LimitOptions{})
	r := httptest.NewRequest(http.MethodGet, "/orders?userId=1", nil)
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "test")
	w := httptest.NewRecorder()
	if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("%v allocations per bodyless request, want 0", n)
	}
}
