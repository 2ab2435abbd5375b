package shop_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/shop"
)

// The fuzz targets below send arbitrary bodies to each write endpoint through
// the production handler chain (httpapi.Limits, with its strict JSON check,
// around httpapi.WithProblems over the service's mux), in process, against
// the service's real SQLite database. For every input:
//
//   - the answer is never a 5xx;
//   - a body httpapi.CheckJSON refuses (a repeated key, bytes that are not
//     UTF-8, a control character) is a 400;
//   - a refusal is an RFC 9457 problem whose status matches the HTTP status
//     and whose detail says what is wrong;
//   - a success answers a body that is valid by the API's rules, and adds
//     exactly the one event the change records to the outbox;
//   - a refusal adds nothing to the outbox: bad input never publishes;
//   - where the target knows which field is at fault (a sign-up's password
//     that is too short or too long), the refusal is a 422 naming it.
//
// Requests act as an admin, as they do in the harness where authorization
// is off: the targets fuzz the input rules, and signin_test.go the rights.
//
// Run one with, for example:
//
//	go test -run '^$' -fuzz '^FuzzCreateUser$' -fuzztime 20000x ./shop/

// fuzzPublisher records what reaches it. No relay runs in the fuzz targets,
// so nothing may: a handler that published directly, bypassing the outbox,
// would show up here.
type fuzzPublisher struct {
	mu       sync.Mutex
	subjects []string
}

func (p *fuzzPublisher) Publish(_ context.Context, subject, _ string, _ []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.subjects = append(p.subjects, subject)
	return nil
}

func (p *fuzzPublisher) published() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.subjects...)
}

// fuzzEndpoint is one write endpoint of a built, unstarted service.
type fuzzEndpoint struct {
	h            http.Handler
	db           *sql.DB
	pub          *fuzzPublisher
	method, path string
	// check judges a 2xx answer: req and resp are the request and response
	// bodies. It returns how many outbox rows the success must have added,
	// or an error saying why the request should not have succeeded or the
	// answer is wrong.
	check func(req, resp []byte) (events int, err error)
	// refused, if set, judges a refusal: req is the request body, code
	// the status and p the problem. It returns an error saying why the
	// refusal is the wrong one.
	refused func(req []byte, code int, p problemBody) error
}

// newFuzzEndpoint builds the named shop service once for the fuzz target, in
// f's temp dir, and runs the setup statements on its database.
func newFuzzEndpoint(f *testing.F, name, method, path string, setup ...string) *fuzzEndpoint {
	f.Helper()
	pub := &fuzzPublisher{}
	s, err := shop.Build(context.Background(), name, shop.Config{DataDir: f.TempDir()}, pub)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Stop(context.Background()) })
	for _, q := range setup {
		if _, err := s.DB.Exec(q); err != nil {
			f.Fatal(err)
		}
	}
	h := httpapi.WithProblems(s.Mux)
	asAdmin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(auth.WithClaims(r.Context(), fuzzAdmin)))
	})
	return &fuzzEndpoint{h: httpapi.Limits(asAdmin, httpapi.LimitOptions{}), db: s.DB, pub: pub, method: method, path: path}
}

// fuzzAdmin are the claims of every fuzzed request: an admin's, those a
// service without a verifier gives every caller.
var fuzzAdmin = &auth.Claims{Role: auth.RoleAdmin}

// outboxRows returns how many events wait in the outbox.
func (e *fuzzEndpoint) outboxRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.db.QueryRow(`SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// send serves body as a JSON request and checks the answer against the
// properties listed at the top of this file.
func (e *fuzzEndpoint) send(t *testing.T, body []byte) {
	t.Helper()
	before := e.outboxRows(t)
	req := httptest.NewRequest(e.method, e.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	code, raw := rec.Code, rec.Body.Bytes()
	added := e.outboxRows(t) - before

	if code >= 500 {
		t.Fatalf("%s %s %q: status %d: %s", e.method, e.path, body, code, raw)
	}
	if err := httpapi.CheckJSON(body); err != nil && len(body) < 1<<20 && code != http.StatusBadRequest {
		t.Errorf("%s %s %q: status %d, want 400 (%v): %s", e.method, e.path, body, code, err, raw)
	}
	if code < 200 || code >= 300 {
		if ct, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); ct != "application/problem+json" {
			t.Errorf("%s %s %q: status %d with Content-Type %q, want application/problem+json", e.method, e.path, body, code, rec.Header().Get("Content-Type"))
		}
		var p problemBody
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Errorf("%s %s %q: status %d, problem body is not JSON: %v: %s", e.method, e.path, body, code, err, raw)
		}
		if p.Status != code {
			t.Errorf("%s %s %q: status %d, problem says status %d: %s", e.method, e.path, body, code, p.Status, raw)
		}
		if strings.TrimSpace(p.Detail) == "" {
			t.Errorf("%s %s %q: status %d, problem has no detail: %s", e.method, e.path, body, code, raw)
		}
		if added != 0 {
			t.Errorf("%s %s %q: refused with %d but added %d event(s) to the outbox", e.method, e.path, body, code, added)
		}
		if e.refused != nil {
			if err := e.refused(body, code, p); err != nil {
				t.Errorf("%s %s %q: status %d: %v; answer: %s", e.method, e.path, body, code, err, raw)
			}
		}
	} else {
		want, err := e.check(body, raw)
		if err != nil {
			t.Errorf("%s %s %q: status %d: %v; answer: %s", e.method, e.path, body, code, err, raw)
		} else if added != want {
			t.Errorf("%s %s %q: status %d added %d event(s) to the outbox, want %d", e.method, e.path, body, code, added, want)
		}
	}
	if got := e.pub.published(); len(got) != 0 {
		t.Fatalf("%s %s %q: published %v with no relay running: a handler bypassed the outbox", e.method, e.path, body, got)
	}
}

// fuzzSeeds are bodies every endpoint gets besides its own valid ones.
var fuzzSeeds = []string{
	``,
	`null`,
	`[]`,
	`[{}]`,
	`{}`,
	`"x"`,
	`0`,
	`true`,
	`{`,
	`}`,
	`{"`,
	`{,}`,
	"\xff\xfe",
	`{} {}`,
	`{}x`,
	`{"a":1}`,
	`{"id":1}`,
	`{"title":null,"image":null}`,
	`{"name":null,"email":null}`,
	`{"name":null,"email":null,"password":null}`,
	`{"userId":null,"productId":null}`,
	`{"userId":1e999,"productId":1}`,
	`{"userId":-1,"productId":0}`,
	`{"userId":1.5,"productId":1}`,
	`{"userId":1.0,"productId":1}`,
	`{"userId":9223372036854775807,"productId":1}`,
	`{"userId":9223372036854775808,"productId":1}`,
	`{"userId":"1","productId":"1"}`,
	`{"name":1,"email":true}`,
	`{"name":"a","email":"a@example.com","password":1234567890}`,
	`{"title":[],"image":{}}`,
	`{"name":"   ","email":"a@example.com"}`,
	`{"title":"\u00a0","image":"\u2028"}`,
	`{"name":"` + strings.Repeat("é", 201) + `","email":"long@example.com"}`,
	`{"title":"` + strings.Repeat("x", 1001) + `","image":"i"}`,
	"{\"title\":\"\xff\",\"image\":\"\x80\"}",
}

// fuzzObject decodes req as a JSON object with the given fields and returns
// each field's raw value as the handler sees it. Keys are case-sensitive
// (httpapi sets huma.ValidateStrictCasing) and the last of a repeated key
// wins (httpapi.Limits refuses such a body before it is decoded); a key
// that matches no field makes the body invalid.
func fuzzObject(req []byte, fields ...string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(req, &m); err != nil || m == nil {
		return nil, fmt.Errorf("accepted a body that is not a JSON object (%v)", err)
	}
	dec := json.NewDecoder(bytes.NewReader(req))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	got := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		field := ""
		for _, f := range fields {
			if key == f {
				field = f
			}
		}
		if field == "" {
			return nil, fmt.Errorf("accepted unknown field %q", key)
		}
		got[field] = raw
	}
	return got, nil
}

// fuzzString returns the string field name of m, checking it is present (if
// required), a string, not blank, and at most max characters long.
func fuzzString(m map[string]json.RawMessage, name string, max int, required bool) (s string, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		if required {
			return "", false, fmt.Errorf("accepted a body without %q", name)
		}
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil || string(raw) == "null" {
		return "", true, fmt.Errorf("accepted %s = %s, which is not a string", name, raw)
	}
	if strings.TrimSpace(s) == "" {
		return "", true, fmt.Errorf("accepted blank %s %q", name, s)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", true, fmt.Errorf("accepted %s of %d characters, more than %d", name, n, max)
	}
	return s, true, nil
}

// fuzzID returns the integer field name of m, checking it is a JSON integer
// that fits in 64 bits and is at least 1.
func fuzzID(m map[string]json.RawMessage, name string) (int64, error) {
	raw, ok := m[name]
	if !ok {
		return 0, fmt.Errorf("accepted a body without %q", name)
	}
	var id int64
	if err := json.Unmarshal(raw, &id); err != nil || string(raw) == "null" || id < 1 {
		return 0, fmt.Errorf("accepted %s = %s, which is not an id", name, raw)
	}
	return id, nil
}

func fuzzAnswer(resp []byte, v any) error {
	if err := json.Unmarshal(resp, v); err != nil {
		return fmt.Errorf("answer is not the expected JSON: %v", err)
	}
	return nil
}

// fuzzPasswordFault says what is wrong with a sign-up's password, the raw
// JSON value of its "password" key: "" if nothing is, or if it is not a
// string (a fault the caller names otherwise). A password has 10 to 256
// characters (the API's schema) and at most 256 bytes (auth.HashPassword).
func fuzzPasswordFault(raw json.RawMessage) string {
	var pw string
	if err := json.Unmarshal(raw, &pw); err != nil || string(raw) == "null" {
		return ""
	}
	switch n := utf8.RuneCountInString(pw); {
	case n < auth.MinPasswordLength:
		return fmt.Sprintf("a password of %d characters, fewer than %d", n, auth.MinPasswordLength)
	case n > auth.MaxPasswordLength:
		return fmt.Sprintf("a password of %d characters, more than %d", n, auth.MaxPasswordLength)
	case len(pw) > auth.MaxPasswordLength:
		return fmt.Sprintf("a password of %d bytes, more than %d", len(pw), auth.MaxPasswordLength)
	}
	return ""
}

func FuzzCreateUser(f *testing.F) {
	e := newFuzzEndpoint(f, "users", http.MethodPost, "/users")
	e.check = func(req, resp []byte) (int, error) {
		m, err := fuzzObject(req, "name", "email", "password")
		if err != nil {
			return 0, err
		}
		raw, ok := m["password"]
		if !ok {
			return 0, fmt.Errorf("accepted a body without %q", "password")
		}
		var pw string
		if err := json.Unmarshal(raw, &pw); err != nil || string(raw) == "null" {
			return 0, fmt.Errorf("accepted password = %s, which is not a string", raw)
		}
		if fault := fuzzPasswordFault(raw); fault != "" {
			return 0, fmt.Errorf("accepted %s", fault)
		}
		name, _, err := fuzzString(m, "name", 200, true)
		if err != nil {
			return 0, err
		}
		email, _, err := fuzzString(m, "email", 320, true)
		if err != nil {
			return 0, err
		}
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			return 0, fmt.Errorf("accepted email %q, which is not a bare address", email)
		}
		var u struct {
			ID    int64  `json:"id"`
			Name  string `json:"name"`
			Email string `json:"email"`
		}
		if err := fuzzAnswer(resp, &u); err != nil {
			return 0, err
		}
		if u.ID < 1 || u.Name != strings.TrimSpace(name) || u.Email != email {
			return 0, fmt.Errorf("answer %+v does not match the request", u)
		}
		// Neither the password nor its hash: only the user's own fields.
		var fields map[string]json.RawMessage
		if err := fuzzAnswer(resp, &fields); err != nil {
			return 0, err
		}
		for k := range fields {
			switch k {
			case "id", "name", "email", "version", "createdAt":
			default:
				return 0, fmt.Errorf("the answer has a field %q besides the user's own", k)
			}
		}
		return 1, nil
	}
	// A JSON object whose password is too short or too long is refused
	// with a 422 at body.password, whatever else is wrong with it, unless
	// its JSON is refused first (400): the schema checks every field, and
	// a byte-length fault is found before the user is looked for.
	e.refused = func(req []byte, code int, p problemBody) error {
		var m map[string]json.RawMessage
		if len(req) >= 1<<20 || httpapi.CheckJSON(req) != nil || json.Unmarshal(req, &m) != nil || m == nil {
			return nil
		}
		fault := fuzzPasswordFault(m["password"])
		if fault == "" {
			return nil
		}
		if code != http.StatusUnprocessableEntity {
			return fmt.Errorf("%s refused with %d, want 422", fault, code)
		}
		for _, d := range p.Errors {
			if d.Location == "body.password" {
				return nil
			}
		}
		return fmt.Errorf("%s refused without an error at body.password", fault)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	// pw is a valid password, so that each seed below has the one fault
	// its comment or its shape shows.
	const pw = `"password":"` + password + `"`
	for _, s := range []string{
		`{"name":"Ann","email":"ann@example.com",` + pw + `}`,
		`{"name":"Ann","email":"ANN@example.com",` + pw + `}`, // the same email again: 409
		`{"name":"  Bob  ","email":"bob@example.com",` + pw + `}`,
		`{"name":"Ann","email":"Ann <ann2@example.com>",` + pw + `}`,
		`{"name":"Ann","email":"not an email",` + pw + `}`,
		`{"name":"Ann","email":"dup@example.com","email":"dup2@example.com",` + pw + `}`,
		`{"name":"Ann","email":"ann3@example.com",` + pw + `,"extra":1}`,
		`{"Name":"Ann","Email":"ann4@example.com","Password":"` + password + `"}`,
		// A second key differing only in case once slipped past validation.
		`{"name":"Ann","email":"probe1@example.com",` + pw + `,"Email":"not an email"}`,
		`{"name":"Ann","email":"probe2@example.com",` + pw + `,"NAME":"` + strings.Repeat("n", 500) + `"}`,
		`{"name":"Ann","email":"probe3@example.com","password":"short","Password":"` + password + `"}`,
		`{"name":"Zoë 日本 🎉","email":"zoe@example.com",` + pw + `}`,
		`{"name":"Ann","email":"ann5@example.com",` + pw + `} trailing`,
		`{"name":"Ann","email":"ann6@example.com",` + pw + `}{}`,
		`[{"name":"Ann","email":"ann7@example.com",` + pw + `}]`,
		`{"name":"` + strings.Repeat("n", 200) + `","email":"max@example.com",` + pw + `}`,
		// Passwords: missing, too short, the shortest, the longest and too
		// long in characters and in bytes, repeated, not a string.
		`{"name":"Ann","email":"pw0@example.com"}`,
		`{"name":"Ann","email":"pw1@example.com","password":""}`,
		`{"name":"Ann","email":"pw2@example.com","password":"123456789"}`,
		`{"name":"Ann","email":"pw3@example.com","password":"1234567890"}`,
		`{"name":"Ann","email":"pw4@example.com","password":"          "}`,
		`{"name":"Ann","email":"pw5@example.com","password":"` + strings.Repeat("p", 256) + `"}`,
		`{"name":"Ann","email":"pw6@example.com","password":"` + strings.Repeat("p", 257) + `"}`,
		`{"name":"Ann","email":"pw7@example.com","password":"` + strings.Repeat("é", 128) + `"}`,
		`{"name":"Ann","email":"pw8@example.com","password":"` + strings.Repeat("é", 129) + `"}`,
		`{"name":"Ann","email":"pw9@example.com","password":"` + strings.Repeat("🎉", 9) + `"}`,
		`{"name":"Ann","email":"pw10@example.com","password":"\u00e9\u00e9\u00e9\u00e9\u00e9"}`,
		"{\"name\":\"Ann\",\"email\":\"pw11@example.com\",\"password\":\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\"}",
		`{"name":"Ann","email":"pw12@example.com","password":"` + password + `","password":"short"}`,
		`{"name":"Ann","email":"pw13@example.com","password":["` + password + `"]}`,
		`{"name":"","email":"pw14@example.com","password":"short"}`,
		`{"name":"Ann","email":"pw15@example.com","password":"short","extra":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { e.send(t, body) })
}

// fuzzPrice returns the optional price and currency of m, checking the
// price is a JSON integer of 0 or more that fits in 64 bits and the
// currency three upper-case letters. Left out (or null, which an optional
// field takes as left out), they are 0 and EUR, and not present.
func fuzzPrice(m map[string]json.RawMessage) (price int64, currency string, present map[string]bool, err error) {
	price, currency, present = 0, "EUR", map[string]bool{}
	if raw, ok := m["price"]; ok && string(raw) != "null" {
		present["price"] = true
		if err := json.Unmarshal(raw, &price); err != nil || price < 0 {
			return 0, "", present, fmt.Errorf("accepted price = %s, which is not an integer of 0 or more", raw)
		}
	}
	if raw, ok := m["currency"]; ok && string(raw) != "null" {
		present["currency"] = true
		if err := json.Unmarshal(raw, &currency); err != nil || !currencyRe.MatchString(currency) {
			return 0, "", present, fmt.Errorf("accepted currency = %s, which is not three upper-case letters", raw)
		}
	}
	return price, currency, present, nil
}

var currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)

// fuzzProduct is a product as products answers it.
type fuzzProduct struct {
	ID       int64  `json:"id"`
	Title    string `json:"title"`
	Image    string `json:"image"`
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	Version  int64  `json:"version"`
}

func FuzzCreateProduct(f *testing.F) {
	e := newFuzzEndpoint(f, "products", http.MethodPost, "/products")
	e.check = func(req, resp []byte) (int, error) {
		m, err := fuzzObject(req, "title", "image", "price", "currency")
		if err != nil {
			return 0, err
		}
		title, _, err := fuzzString(m, "title", 1000, true)
		if err != nil {
			return 0, err
		}
		image, _, err := fuzzString(m, "image", 2048, true)
		if err != nil {
			return 0, err
		}
		price, currency, _, err := fuzzPrice(m)
		if err != nil {
			return 0, err
		}
		var p fuzzProduct
		if err := fuzzAnswer(resp, &p); err != nil {
			return 0, err
		}
		if p.ID < 1 || p.Title != title || p.Image != image || p.Price != price || p.Currency != currency || p.Version != 1 {
			return 0, fmt.Errorf("answer %+v does not match the request", p)
		}
		return 1, nil
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"title":"Pants","image":"pants.jpg"}`,
		`{"title":"Shoes","image":"https://example.com/shoes.png?size=large&x=1"}`,
		`{"title":"Hat"}`,
		`{"image":"hat.jpg"}`,
		`{"title":"","image":"x"}`,
		`{"title":"Hat","image":"hat.jpg","price":3}`,
		`{"title":"Hat","image":"hat.jpg","price":1999,"currency":"USD"}`,
		`{"title":"Hat","image":"hat.jpg","currency":"JPY"}`,
		`{"title":"Hat","image":"hat.jpg","price":0,"currency":"EUR"}`,
		`{"title":"Hat","image":"hat.jpg","price":-1}`,
		`{"title":"Hat","image":"hat.jpg","price":19.99}`,
		`{"title":"Hat","image":"hat.jpg","price":1.0}`,
		`{"title":"Hat","image":"hat.jpg","price":1e3}`,
		`{"title":"Hat","image":"hat.jpg","price":"3"}`,
		`{"title":"Hat","image":"hat.jpg","price":null}`,
		`{"title":"Hat","image":"hat.jpg","price":9223372036854775807}`,
		`{"title":"Hat","image":"hat.jpg","price":9223372036854775808}`,
		`{"title":"Hat","image":"hat.jpg","currency":"eur"}`,
		`{"title":"Hat","image":"hat.jpg","currency":"EURO"}`,
		`{"title":"Hat","image":"hat.jpg","currency":""}`,
		`{"title":"Hat","image":"hat.jpg","currency":null}`,
		`{"title":"Hat","image":"hat.jpg","currency":"ÉUR"}`,
		`{"title":"Hat","image":"hat.jpg","currency":"EUR\n"}`,
		`{"title":"Hat","image":"hat.jpg","Price":3}`,
		`{"title":"Hat","image":"hat.jpg","Title":"hat"}`,
		`{"title":"Hat","image":"hat.jpg","Title":"` + strings.Repeat("t", 5000) + `"}`,
		`{"title":"Hat","image":"hat.jpg","Image":""}`,
		`{"title":"Ünïcödé ☃","image":"\u0000"}`,
		`{"title":"Hat","image":"hat.jpg"} 1`,
		`{"title":` + strings.Repeat(`"`, 3) + `}`,
		`{"title":"` + strings.Repeat("t", 1000) + `","image":"` + strings.Repeat("i", 2048) + `"}`,
		`{"title":"t","image":"` + strings.Repeat("i", 2049) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { e.send(t, body) })
}

func FuzzUpdateProduct(f *testing.F) {
	e := newFuzzEndpoint(f, "products", http.MethodPut, "/products/1",
		`INSERT INTO products (id, title, image, version, updated_at) VALUES (1, 'Pants', 'pants.jpg', 1, '2024-01-01T00:00:00Z')`)
	// An update that changes nothing emits nothing, so whether a success
	// adds an event depends on the product before it: version tracks the
	// product's version (inputs run one at a time in each fuzz process).
	version := int64(1)
	e.check = func(req, resp []byte) (int, error) {
		var p fuzzProduct
		if err := fuzzAnswer(resp, &p); err != nil {
			return 0, err
		}
		before := version
		version = p.Version
		m, err := fuzzObject(req, "title", "image", "price", "currency")
		if err != nil {
			return 0, err
		}
		title, hasTitle, err := fuzzString(m, "title", 1000, false)
		if err != nil {
			return 0, err
		}
		image, hasImage, err := fuzzString(m, "image", 2048, false)
		if err != nil {
			return 0, err
		}
		price, currency, has, err := fuzzPrice(m)
		if err != nil {
			return 0, err
		}
		if !hasTitle && !hasImage && !has["price"] && !has["currency"] {
			return 0, fmt.Errorf("accepted a body with none of title, image, price and currency")
		}
		if p.ID != 1 || (hasTitle && p.Title != title) || (hasImage && p.Image != image) ||
			(has["price"] && p.Price != price) || (has["currency"] && p.Currency != currency) {
			return 0, fmt.Errorf("answer %+v does not match the request", p)
		}
		switch p.Version {
		case before:
			return 0, nil // nothing changed
		case before + 1:
			return 1, nil
		default:
			return 0, fmt.Errorf("version went from %d to %d", before, p.Version)
		}
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"title":"Trousers"}`,
		`{"image":"trousers.jpg"}`,
		`{"title":"Pants","image":"pants.jpg"}`,
		`{"title":"Trousers","image":"trousers.png"}`,
		`{"title":null}`,
		`{"title":""}`,
		`{"title":"  "}`,
		`{"title":"T","colour":"red"}`,
		`{"price":2500}`,
		`{"price":2500,"currency":"GBP"}`,
		`{"currency":"USD"}`,
		`{"price":-5}`,
		`{"price":null}`,
		`{"currency":"usd"}`,
		`{"currency":null}`,
		`{"price":1.5,"title":"T"}`,
		`{"title":"T","title":"U"}`,
		`{"title":"T"}]`,
		`{"title":"Ø 🎉 \ud83d"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { e.send(t, body) })
}

func FuzzCreateOrder(f *testing.F) {
	e := newFuzzEndpoint(f, "orders", http.MethodPost, "/orders",
		`INSERT INTO known_users (id) VALUES (1), (2), (9223372036854775807)`,
		`INSERT INTO known_products (id) VALUES (1), (3)`)
	known := map[string]map[int64]bool{
		"userId":    {1: true, 2: true, 9223372036854775807: true},
		"productId": {1: true, 3: true},
	}
	e.check = func(req, resp []byte) (int, error) {
		m, err := fuzzObject(req, "userId", "productId")
		if err != nil {
			return 0, err
		}
		ids := map[string]int64{}
		for _, name := range []string{"userId", "productId"} {
			id, err := fuzzID(m, name)
			if err != nil {
				return 0, err
			}
			if !known[name][id] {
				return 0, fmt.Errorf("accepted unknown %s %d", name, id)
			}
			ids[name] = id
		}
		var o struct {
			ID        int64  `json:"id"`
			UserID    int64  `json:"userId"`
			ProductID int64  `json:"productId"`
			Status    string `json:"status"`
		}
		if err := fuzzAnswer(resp, &o); err != nil {
			return 0, err
		}
		if o.ID < 1 || o.UserID != ids["userId"] || o.ProductID != ids["productId"] || o.Status != "placed" {
			return 0, fmt.Errorf("answer %+v does not match the request", o)
		}
		return 1, nil
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"userId":1,"productId":1}`,
		`{"userId":2,"productId":3}`,
		`{"userId":9223372036854775807,"productId":1}`,
		`{"userId":4,"productId":1}`,
		`{"userId":1,"productId":2}`,
		`{"userId":1}`,
		`{"productId":1}`,
		`{"userId":1,"productId":1,"qty":2}`,
		`{"userId":1,"productId":1,"userId":2}`,
		`{"userId":1e0,"productId":1}`,
		`{"userId":1,"productId":1}{"userId":1,"productId":1}`,
		`{"userId":-9223372036854775808,"productId":1}`,
		`{"userId":18446744073709551617,"productId":1}`,
		`{"userId":1,"productId":` + strings.Repeat("9", 400) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) { e.send(t, body) })
}
