package shop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
)

// badRow is one request that every service must refuse: with the exact
// status, as RFC 9457 problem details, naming the offending field when there
// is one, and without writing or publishing anything.
type badRow struct {
	badEndpoint
	name        string
	body        any    // nil, a string or []byte sent as is
	contentType string // default application/json when body is set
	status      int
	loc         string // an errors[].location the problem must name; "" = none required
	msg         string // text that error's message must contain, if set
}

// badEndpoint is one route of one service, named by its Huma operation id.
type badEndpoint struct {
	op     string // operation id, e.g. create-user
	svc    string // users, products, orders or query
	method string
	path   string // the request path, with a concrete id
}

// problemBody is an RFC 9457 problem-details body as Huma writes it.
type problemBody struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// doRaw is do with a chosen Content-Type that also returns the response
// headers. body is sent as is (nil, a string or []byte).
func doRaw(t *testing.T, method, url, contentType string, body any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = strings.NewReader(string(b))
	default:
		t.Fatalf("send: body must be nil, a string or []byte, not %T", body)
	}
	return testenv.Send(t, method, url, contentType, r)
}

// eventCounts is how many events the write services have: in the stream, and
// still waiting in their outboxes.
func eventCounts(t *testing.T, e *env, s map[string]*svc) (stream int, pending map[string]int) {
	t.Helper()
	pending = map[string]int{}
	for _, name := range []string{"users", "products", "orders"} {
		n, err := outbox.Pending(context.Background(), s[name].DB)
		if err != nil {
			t.Fatal(err)
		}
		pending[name] = n
	}
	return len(e.events()), pending
}

// settledEvents waits until every outbox is empty and returns the stream's event
// count, which then includes everything the services ever committed (a
// relay deletes an outbox row only after the bus acknowledged it).
func settledEvents(t *testing.T, e *env, s map[string]*svc) int {
	t.Helper()
	var n int
	testenv.Eventually(t, 15*time.Second, func() error {
		stream, pending := eventCounts(t, e, s)
		for name, p := range pending {
			if p != 0 {
				return fmt.Errorf("%s outbox has %d pending events", name, p)
			}
		}
		n = stream
		return nil
	})
	return n
}

func TestBadInputIsRefusedWithProblemDetailsAndPublishesNothing(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()

	// Valid setup: a user, a product and an order, so that orders knows both
	// and each "unknown" row below has exactly one unknown id.
	user := createUser(t, s["users"], "Ada")
	prod := createProduct(t, s["products"], "lamp", "lamp.png")
	order := placeOrder(t, s["orders"], user, prod)
	const before = 3 // user created, product created, order created
	testenv.Eventually(t, 15*time.Second, func() error {
		if n := settledEvents(t, e, s); n != before {
			return fmt.Errorf("stream has %d events, want %d", n, before)
		}
		return nil
	})

	const unknown = 987654321
	long := func(n int) string { return strings.Repeat("x", n) }
	js := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	huge := `{"title":"` + long(1<<20) + `","image":"a.png"}` // over 1 MiB

	var rows []badRow
	// add adds rows for ep.
	add := func(ep badEndpoint, rs ...badRow) {
		for _, r := range rs {
			r.badEndpoint = ep
			rows = append(rows, r)
		}
	}
	// jsonRows are the rows every endpoint with a JSON body must refuse
	// alike; valid is a valid body for it and field one of its fields.
	jsonRows := func(ep badEndpoint, valid, field string) {
		add(ep,
			badRow{name: "malformed JSON", body: `{"` + field + `":`, status: 400, loc: "body"},
			badRow{name: "trailing JSON", body: valid + ` {}`, status: 400, loc: "body"},
			badRow{name: "array body", body: `[` + valid + `]`, status: 422, loc: "body"},
			badRow{name: "string body", body: `"` + field + `"`, status: 422, loc: "body"},
			badRow{name: "null body", body: `null`, status: 422, loc: "body"},
			badRow{name: "empty body", body: "", status: 400},
			badRow{name: "unknown field", body: strings.TrimSuffix(valid, "}") + `,"x":1}`, status: 422, loc: "body.x"},
			badRow{name: "body over 1 MiB", body: huge, status: 413},
			badRow{name: "text-plain body", body: valid, contentType: "text/plain", status: 415},
		)
	}
	// idRows are the rows every endpoint with an {id} must refuse alike;
	// pattern is its path with %s for the id, body a valid body if it takes one.
	idRows := func(ep badEndpoint, pattern string, body any, notFound string) {
		for _, id := range []struct{ name, id string }{
			{"zero id", "0"},
			{"negative id", "-1"},
			{"word id", "abc"},
			{"exponent id", "1e3"},
			{"fraction id", "1.5"},
			{"30-digit id", "123456789012345678901234567890"},
		} {
			ep.path = fmt.Sprintf(pattern, id.id)
			add(ep, badRow{name: id.name, body: body, status: 422, loc: "path.id"})
		}
		ep.path = fmt.Sprintf(pattern, strconv.Itoa(unknown))
		add(ep, badRow{name: notFound, body: body, status: 404})
	}

	// users: each row has one fault; the rest of its body is valid.
	const pw = `"password":"` + password + `"`
	createUserEP := badEndpoint{"create-user", "users", "POST", "/users"}
	jsonRows(createUserEP, `{"name":"Bea","email":"bea@example.com",`+pw+`}`, "name")
	add(createUserEP,
		badRow{name: "missing name", body: `{"email":"bea@example.com",` + pw + `}`, status: 422, loc: "body.name", msg: "is required"},
		badRow{name: "missing email", body: `{"name":"Bea",` + pw + `}`, status: 422, loc: "body.email", msg: "is required"},
		badRow{name: "missing password", body: `{"name":"Bea","email":"bea@example.com"}`, status: 422, loc: "body.password", msg: "is required"},
		badRow{name: "empty object", body: `{}`, status: 422, loc: "body.name", msg: "is required"},
		badRow{name: "empty name", body: `{"name":"","email":"bea@example.com",` + pw + `}`, status: 422, loc: "body.name"},
		badRow{name: "blank name", body: `{"name":"   ","email":"bea@example.com",` + pw + `}`, status: 422, loc: "body.name"},
		badRow{name: "name over 200", body: js(map[string]string{"name": long(201), "email": "bea@example.com", "password": password}), status: 422, loc: "body.name"},
		badRow{name: "name is a number", body: `{"name":1,"email":"bea@example.com",` + pw + `}`, status: 422, loc: "body.name"},
		badRow{name: "empty email", body: `{"name":"Bea","email":"",` + pw + `}`, status: 422, loc: "body.email"},
		badRow{name: "blank email", body: `{"name":"Bea","email":"   ",` + pw + `}`, status: 422, loc: "body.email"},
		badRow{name: "invalid email", body: `{"name":"Bea","email":"not-an-email",` + pw + `}`, status: 422, loc: "body.email"},
		badRow{name: "second key differing in case", body: `{"name":"Bea","email":"bea@example.com",` + pw + `,"Email":"not an email"}`, status: 422, loc: "body.Email", msg: "unexpected property"},
		badRow{name: "email with a display name", body: `{"name":"Bea","email":"Ada <ada@example.com>",` + pw + `}`, status: 422, loc: "body.email", msg: "bare address"},
		badRow{name: "email over 320", body: js(map[string]string{"name": "Bea", "email": long(310) + "@example.com", "password": password}), status: 422, loc: "body.email"},
		badRow{name: "email taken", body: `{"name":"Ada","email":"ADA@example.com",` + pw + `}`, status: 409, loc: "body.email"},
		badRow{name: "empty password", body: `{"name":"Bea","email":"bea@example.com","password":""}`, status: 422, loc: "body.password"},
		badRow{name: "password of 9 characters", body: js(map[string]string{"name": "Bea", "email": "bea@example.com", "password": long(9)}), status: 422, loc: "body.password"},
		badRow{name: "password of 257 characters", body: js(map[string]string{"name": "Bea", "email": "bea@example.com", "password": long(257)}), status: 422, loc: "body.password"},
		// 200 characters, but 400 bytes: the limit is in bytes.
		badRow{name: "password over 256 bytes", body: js(map[string]string{"name": "Bea", "email": "bea@example.com", "password": strings.Repeat("é", 200)}), status: 422, loc: "body.password"},
		badRow{name: "password is a number", body: `{"name":"Bea","email":"bea@example.com","password":1234567890}`, status: 422, loc: "body.password"},
		badRow{name: "password is null", body: `{"name":"Bea","email":"bea@example.com","password":null}`, status: 422, loc: "body.password"},
	)
	// Sign-in refuses a malformed body before it looks for the user (this
	// users service has no issuer: a valid body would answer 503).
	signInEP := badEndpoint{"sign-in", "users", "POST", "/sessions"}
	jsonRows(signInEP, `{"email":"ada@example.com",`+pw+`}`, "email")
	add(signInEP,
		badRow{name: "missing email", body: `{` + pw + `}`, status: 422, loc: "body.email", msg: "is required"},
		badRow{name: "missing password", body: `{"email":"ada@example.com"}`, status: 422, loc: "body.password", msg: "is required"},
		badRow{name: "empty password", body: `{"email":"ada@example.com","password":""}`, status: 422, loc: "body.password"},
		badRow{name: "password of 257 characters", body: js(map[string]string{"email": "ada@example.com", "password": long(257)}), status: 422, loc: "body.password"},
	)
	idRows(badEndpoint{"get-user", "users", "GET", ""}, "/users/%s", nil, "unknown user")

	// products
	createProductEP := badEndpoint{"create-product", "products", "POST", "/products"}
	jsonRows(createProductEP, `{"title":"a","image":"b"}`, "title")
	add(createProductEP,
		badRow{name: "missing title", body: `{"image":"b.png"}`, status: 422, loc: "body.title", msg: "is required"},
		badRow{name: "missing image", body: `{"title":"a"}`, status: 422, loc: "body.image", msg: "is required"},
		badRow{name: "empty object", body: `{}`, status: 422, loc: "body.title", msg: "is required"},
		badRow{name: "empty title", body: `{"title":"","image":"b.png"}`, status: 422, loc: "body.title"},
		badRow{name: "empty image", body: `{"title":"a","image":""}`, status: 422, loc: "body.image"},
		badRow{name: "blank title", body: `{"title":"   ","image":"b.png"}`, status: 422, loc: "body.title"},
		badRow{name: "blank image", body: `{"title":"a","image":"   "}`, status: 422, loc: "body.image"},
		badRow{name: "title over 1000", body: js(map[string]string{"title": long(1001), "image": "b.png"}), status: 422, loc: "body.title"},
		badRow{name: "image over 2048", body: js(map[string]string{"title": "a", "image": long(2049)}), status: 422, loc: "body.image"},
		badRow{name: "title is null", body: `{"title":null,"image":"b.png"}`, status: 422, loc: "body.title"},
		badRow{name: "negative price", body: `{"title":"a","image":"b.png","price":-1}`, status: 422, loc: "body.price"},
		badRow{name: "price with a fraction", body: `{"title":"a","image":"b.png","price":19.99}`, status: 422, loc: "body.price"},
		badRow{name: "price is a string", body: `{"title":"a","image":"b.png","price":"1999"}`, status: 422, loc: "body.price"},
		badRow{name: "lower-case currency", body: `{"title":"a","image":"b.png","currency":"eur"}`, status: 422, loc: "body.currency", msg: "three upper-case letters"},
		badRow{name: "four-letter currency", body: `{"title":"a","image":"b.png","currency":"EURO"}`, status: 422, loc: "body.currency"},
		badRow{name: "empty currency", body: `{"title":"a","image":"b.png","currency":""}`, status: 422, loc: "body.currency"},
	)
	updateProductEP := badEndpoint{"update-product", "products", "PUT", fmt.Sprintf("/products/%d", prod)}
	jsonRows(updateProductEP, `{"title":"a"}`, "title")
	add(updateProductEP,
		badRow{name: "nothing to change", body: `{}`, status: 422, loc: "body", msg: "title, image, price"},
		badRow{name: "negative price", body: `{"price":-5}`, status: 422, loc: "body.price"},
		badRow{name: "currency with a digit", body: `{"currency":"EU1"}`, status: 422, loc: "body.currency"},
		badRow{name: "empty title", body: `{"title":""}`, status: 422, loc: "body.title"},
		badRow{name: "blank title", body: `{"title":"   "}`, status: 422, loc: "body.title"},
		badRow{name: "blank image", body: `{"image":"   "}`, status: 422, loc: "body.image"},
		badRow{name: "title over 1000", body: js(map[string]string{"title": long(1001)}), status: 422, loc: "body.title"},
		badRow{name: "image over 2048", body: js(map[string]string{"image": long(2049)}), status: 422, loc: "body.image"},
		badRow{name: "title is a number", body: `{"title":1}`, status: 422, loc: "body.title"},
	)
	idRows(updateProductEP, "/products/%s", `{"title":"a"}`, "unknown product")
	idRows(badEndpoint{"get-product", "products", "GET", ""}, "/products/%s", nil, "unknown product")

	// orders
	createOrderEP := badEndpoint{"create-order", "orders", "POST", "/orders"}
	jsonRows(createOrderEP, fmt.Sprintf(`{"userId":%d,"productId":%d}`, user, prod), "userId")
	add(createOrderEP,
		badRow{name: "missing userId", body: fmt.Sprintf(`{"productId":%d}`, prod), status: 422, loc: "body.userId", msg: "is required"},
		badRow{name: "missing productId", body: fmt.Sprintf(`{"userId":%d}`, user), status: 422, loc: "body.productId", msg: "is required"},
		badRow{name: "empty object", body: `{}`, status: 422, loc: "body.userId", msg: "is required"},
		badRow{name: "userId is a string", body: fmt.Sprintf(`{"userId":"%d","productId":%d}`, user, prod), status: 422, loc: "body.userId"},
		badRow{name: "userId is a fraction", body: fmt.Sprintf(`{"userId":1.5,"productId":%d}`, prod), status: 422, loc: "body.userId"},
		badRow{name: "userId is null", body: fmt.Sprintf(`{"userId":null,"productId":%d}`, prod), status: 422, loc: "body.userId"},
		badRow{name: "userId over int64", body: fmt.Sprintf(`{"userId":1e30,"productId":%d}`, prod), status: 422, loc: "body.userId", msg: "fits in 64 bits"},
		badRow{name: "productId as 1e0", body: fmt.Sprintf(`{"userId":%d,"productId":1e0}`, user), status: 422, loc: "body.productId", msg: "must be an integer written with digits only, such as 5, not 1e0"},
		badRow{name: "productId is a string", body: fmt.Sprintf(`{"userId":%d,"productId":"%d"}`, user, prod), status: 422, loc: "body.productId"},
		badRow{name: "zero userId", body: fmt.Sprintf(`{"userId":0,"productId":%d}`, prod), status: 422, loc: "body.userId"},
		badRow{name: "negative userId", body: fmt.Sprintf(`{"userId":-1,"productId":%d}`, prod), status: 422, loc: "body.userId"},
		badRow{name: "zero productId", body: fmt.Sprintf(`{"userId":%d,"productId":0}`, user), status: 422, loc: "body.productId"},
		badRow{name: "negative productId", body: fmt.Sprintf(`{"userId":%d,"productId":-1}`, user), status: 422, loc: "body.productId"},
		badRow{name: "unknown user", body: fmt.Sprintf(`{"userId":%d,"productId":%d}`, unknown, prod), status: 422, loc: "body.userId"},
		badRow{name: "unknown product", body: fmt.Sprintf(`{"userId":%d,"productId":%d}`, user, unknown), status: 422, loc: "body.productId"},
	)
	for name, query := range map[string]string{"no userId": "", "userId is a word": "?userId=ann", "zero userId": "?userId=0"} {
		add(badEndpoint{"list-orders", "orders", "GET", "/orders" + query}, badRow{name: name, status: 422, loc: "query.userId"})
	}
	idRows(badEndpoint{"get-order", "orders", "GET", ""}, "/orders/%s", nil, "unknown order")
	idRows(badEndpoint{"cancel-order", "orders", "DELETE", ""}, "/orders/%s", nil, "unknown order")

	// query
	idRows(badEndpoint{"user-products", "query", "GET", ""}, "/users/%s/products", nil, "user never heard of")

	// A path no service routes still answers a problem.
	add(badEndpoint{"no-route", "orders", "GET", "/nope"}, badRow{name: "unknown path", status: 404})
	add(badEndpoint{"no-route", "users", "DELETE", "/users/1"}, badRow{name: "method not allowed", status: 405})
	add(badEndpoint{"no-route", "query", "POST", "/users/1/products"}, badRow{name: "query is read-only", body: `{}`, status: 405})

	for _, r := range rows {
		t.Run(r.op+"/"+r.name, func(t *testing.T) {
			ct := r.contentType
			if ct == "" && r.body != nil {
				ct = "application/json"
			}
			code, h, raw := doRaw(t, r.method, s[r.svc].URL()+r.path, ct, r.body)
			show := fmt.Sprintf("%s %s: %.400s", r.method, r.path, raw)
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
			if p.Status != code {
				t.Errorf("problem status %d, HTTP status %d; %s", p.Status, code, show)
			}
			if p.Detail == "" {
				t.Errorf("problem has no detail; %s", show)
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

	// Nothing above may have committed or published anything: the stream
	// holds only the setup's events once every outbox is empty, and there
	// is no second user, product or order.
	if after := settledEvents(t, e, s); after != before {
		t.Errorf("bad input published %d events", after-before)
		for _, m := range e.events()[before:] {
			t.Logf("published %s: %s", m.Subject, m.Data)
		}
	}
	for _, p := range []struct{ svc, path string }{
		{"users", fmt.Sprintf("/users/%d", user+1)},
		{"products", fmt.Sprintf("/products/%d", prod+1)},
		{"orders", fmt.Sprintf("/orders/%d", order+1)},
	} {
		testenv.MustDo(t, http.StatusNotFound, "GET", s[p.svc].URL()+p.path, nil, nil)
	}
	// The setup's product and order are as they were.
	var pr product
	testenv.MustDo(t, http.StatusOK, "GET", fmt.Sprintf("%s/products/%d", s["products"].URL(), prod), nil, &pr)
	if want := (product{ID: prod, Title: "lamp", Image: "lamp.png"}); pr != want {
		t.Errorf("product is %+v after bad input, want %+v", pr, want)
	}
	var o struct {
		Status string `json:"status"`
	}
	testenv.MustDo(t, http.StatusOK, "GET", fmt.Sprintf("%s/orders/%d", s["orders"].URL(), order), nil, &o)
	if o.Status != "placed" {
		t.Errorf("order status %q after bad input, want placed", o.Status)
	}
}
