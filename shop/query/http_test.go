package query_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
	"github.com/heraldev/herald/shop/query"
)

// The hot route writes its answer from bytes the view encoded ahead; it
// must be what Huma's own encoder makes of UserProducts, byte for byte,
// whatever the titles hold, and every request it does not answer must get
// Huma's answer (checks, refusals, a user nobody named).
func TestUserProductsAnswerIsHumasEncodingByteForByte(t *testing.T) {
	q, db := newQuery(t)
	apply(t, q, db,
		ev(t, event.UserCreated, 1, event.UserCreatedData{ID: 1, Name: "Ann", Email: "ann@example.com"}),
		ev(t, event.UserCreated, 1, event.UserCreatedData{ID: 2, Name: "Bob", Email: "bob@example.com"}),
		ev(t, event.ProductCreatedV2, 1, event.ProductDataV2{ID: 10, Title: `<b>Lamp & "shade"</b>`, Image: "l\u00e4mp\u2028.png", Price: 1999, Currency: "EUR"}),
		ev(t, event.ProductCreated, 1, event.ProductData{ID: 11, Title: "Desk \\ table\t", Image: "desk.png"}),
		ev(t, event.ProductCreatedV2, 1, event.ProductDataV2{ID: 12, Title: "Chair", Image: "chair.png", Price: 5, Currency: "USD"}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 1, UserID: 1, ProductID: 10}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 2, UserID: 1, ProductID: 11}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 3, UserID: 1, ProductID: 10}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 4, UserID: 1, ProductID: 12}),
		ev(t, event.OrderCancelled, 2, event.OrderData{ID: 4, UserID: 1, ProductID: 12}),
		ev(t, event.OrderCreated, 1, event.OrderData{ID: 5, UserID: 1, ProductID: 99}), // a product not seen yet
	)
	mux := http.NewServeMux()
	query.Register(httpapi.NewAPI(mux, "test", "1"), q, slog.New(slog.DiscardHandler))
	get := func(path string, c *auth.Claims) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if c != nil {
			req = req.WithContext(auth.WithClaims(req.Context(), c))
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}

	for _, user := range []int64{1, 2} {
		ps, err := q.UserProducts(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := huma.DefaultJSONFormat.Marshal(&want, ps); err != nil {
			t.Fatal(err)
		}
		w := get("/users/"+strconv.FormatInt(user, 10)+"/products", &auth.Claims{UserID: user, Role: auth.RoleUser})
		if w.Code != http.StatusOK || w.Body.String() != want.String() {
			t.Errorf("user %d: %d %q, want 200 %q", user, w.Code, w.Body.String(), want.String())
		}
		if ct, n := w.Header().Get("Content-Type"), w.Header().Get("Content-Length"); ct != "application/json" || n != strconv.Itoa(want.Len()) {
			t.Errorf("user %d: Content-Type %q, Content-Length %q", user, ct, n)
		}
	}
	var got []query.Product
	if err := json.Unmarshal(get("/users/1/products", &auth.Claims{UserID: 1, Role: auth.RoleUser}).Body.Bytes(), &got); err != nil || len(got) != 2 || got[0].ID != 10 || got[1].ID != 11 {
		t.Errorf("user 1's products = %+v (%v), want 10 (newest order) then 11; 12 cancelled, 99 unknown", got, err)
	}

	for _, c := range []struct {
		path   string
		claims *auth.Claims
		status int
	}{
		{"/users/3/products", &auth.Claims{UserID: 3, Role: auth.RoleUser}, http.StatusNotFound}, // nobody named user 3
		{"/users/2/products", &auth.Claims{UserID: 1, Role: auth.RoleUser}, http.StatusNotFound}, // another user's
		{"/users/0/products", &auth.Claims{UserID: 0, Role: auth.RoleAdmin}, http.StatusUnprocessableEntity},
		{"/users/x/products", &auth.Claims{UserID: 1, Role: auth.RoleAdmin}, http.StatusUnprocessableEntity},
		{"/users/1/products", nil, http.StatusUnauthorized},
	} {
		w := get(c.path, c.claims)
		if w.Code != c.status || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s as %+v: %d %s %q, want %d problem", c.path, c.claims, w.Code, w.Header().Get("Content-Type"), w.Body.String(), c.status)
		}
	}
	if w := get("/users/2/products", &auth.Claims{UserID: 9, Role: auth.RoleAdmin}); w.Code != http.StatusOK || w.Body.String() != "[]\n" {
		t.Errorf("an admin asking for user 2 (no orders): %d %q, want 200 []", w.Code, w.Body.String())
	}
}
