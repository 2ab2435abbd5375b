package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/auth"
)

func TestBearer(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER   abc  ", "abc", true},
		{"", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearerabc", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if tok, ok := auth.Bearer(r); tok != tc.token || ok != tc.ok {
			t.Errorf("Bearer(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.token, tc.ok)
		}
	}
}

// serve runs h on a GET / with the given Authorization header, and returns
// the response and the claims the handler behind h saw.
func serve(t *testing.T, wrap func(http.Handler) http.Handler, authorization string) (*httptest.ResponseRecorder, *auth.Claims) {
	t.Helper()
	var seen *auth.Claims
	h := wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = auth.FromContext(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w, seen
}

type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// assertProblem checks that w is a problem+json answer with the given status
// whose detail says says.
func assertProblem(t *testing.T, w *httptest.ResponseRecorder, status int, says string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || !strings.Contains(p.Detail, says) {
		t.Errorf("problem %+v, want status %d and a detail saying %q", p, status, says)
	}
	challenge := w.Header().Get("WWW-Authenticate")
	if status == http.StatusUnauthorized && !strings.HasPrefix(challenge, `Bearer realm="herald"`) {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge for realm herald", challenge)
	}
}

func TestMiddlewarePassesRequestsWithoutATokenWithNoClaims(t *testing.T) {
	f := newFixture(t)
	for _, header := range []string{"", "Basic dXNlcjpwYXNz"} {
		w, seen := serve(t, f.ver.Middleware, header)
		if w.Code != http.StatusOK || seen != nil {
			t.Errorf("Authorization %q: status %d, claims %+v; want 200 and no claims", header, w.Code, seen)
		}
	}
}

func TestMiddlewarePutsVerifiedClaimsInTheContext(t *testing.T) {
	f := newFixture(t)
	w, seen := serve(t, f.ver.Middleware, "Bearer "+f.issue(t, 42, auth.RoleUser))
	if w.Code != http.StatusOK || seen == nil || seen.UserID != 42 {
		t.Errorf("status %d, claims %+v; want 200 and user 42", w.Code, seen)
	}
}

func TestMiddlewareAnswers401ForABadToken(t *testing.T) {
	f, stranger := newFixture(t), newFixture(t)
	expired := f.issue(t, 1, auth.RoleUser)
	f.clock.Advance(time.Hour)
	for _, tc := range []struct{ name, header, code, says string }{
		{"expired", "Bearer " + expired, "invalid_token", "the token has expired; sign in again with POST /sessions"},
		{"unknown key", "Bearer " + stranger.issue(t, 1, auth.RoleUser), "invalid_token", "key this server does not know"},
		{"garbage", "Bearer not-a-token", "invalid_token", "malformed"},
		{"no token", "Bearer ", "invalid_request", "carries no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, seen := serve(t, f.ver.Middleware, tc.header)
			if seen != nil {
				t.Error("the handler ran")
			}
			assertProblem(t, w, http.StatusUnauthorized, tc.says)
			if c := w.Header().Get("WWW-Authenticate"); !strings.Contains(c, `error="`+tc.code+`"`) || !strings.Contains(c, `error_description="`) {
				t.Errorf("WWW-Authenticate %q, want error=%q and an error_description", c, tc.code)
			}
		})
	}
}

func TestRequireAdmin(t *testing.T) {
	f := newFixture(t)
	operator, _, err := f.issuer.IssueOperator(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	wrap := func(next http.Handler) http.Handler { return auth.RequireAdmin(f.ver, next) }
	for _, tc := range []struct {
		name, header string
		status       int
		says         string
	}{
		{"no token", "", http.StatusUnauthorized, "needs an admin token"},
		{"bad token", "Bearer x.y.z", http.StatusUnauthorized, "malformed"},
		{"user token", "Bearer " + f.issue(t, 1, auth.RoleUser), http.StatusForbidden, "needs an admin token"},
		{"admin user", "Bearer " + f.issue(t, 1, auth.RoleAdmin), http.StatusOK, ""},
		{"operator", "Bearer " + operator, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, seen := serve(t, wrap, tc.header)
			if tc.status == http.StatusOK {
				if w.Code != http.StatusOK || !seen.IsAdmin() {
					t.Errorf("status %d, claims %+v; want 200 with admin claims", w.Code, seen)
				}
				return
			}
			assertProblem(t, w, tc.status, tc.says)
		})
	}
	t.Run("behind Middleware", func(t *testing.T) {
		both := func(next http.Handler) http.Handler { return f.ver.Middleware(wrap(next)) }
		if w, _ := serve(t, both, "Bearer "+f.issue(t, 1, auth.RoleUser)); w.Code != http.StatusForbidden {
			t.Errorf("user token: status %d, want 403", w.Code)
		}
	})
}

func TestRequire(t *testing.T) {
	user := &auth.Claims{UserID: 5, Role: auth.RoleUser}
	ctx := auth.WithClaims(context.Background(), user)
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		owner  int64
		status int
	}{
		{"no claims", context.Background(), 5, http.StatusUnauthorized},
		{"own data", ctx, 5, 0},
		{"another's data", ctx, 6, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := auth.RequireOwner(tc.ctx, tc.owner)
			var d *auth.Denied
			switch {
			case tc.status == 0 && (err != nil || c != user):
				t.Errorf("RequireOwner = %v, %v; want the claims", c, err)
			case tc.status != 0 && (!errors.As(err, &d) || d.Status != tc.status || c != nil):
				t.Errorf("RequireOwner = %v, %v; want a *Denied with status %d", c, err, tc.status)
			}
		})
	}
	if _, err := auth.Require(context.Background()); err == nil || !strings.Contains(err.Error(), "POST /sessions") {
		t.Errorf("Require without claims: err = %v, want one telling to sign in with POST /sessions", err)
	}
}

// humaError is the shape Huma recognises in a handler's error: a status,
// headers and a problem content type. auth does not import Huma; this
// checks that Denied still fits.
type humaError interface {
	error
	GetStatus() int
	GetHeaders() http.Header
	ContentType(string) string
}

func TestDeniedServesAsAHumaError(t *testing.T) {
	_, err := auth.Require(context.Background())
	he, ok := err.(humaError)
	if !ok {
		t.Fatalf("%T does not have Huma's error methods", err)
	}
	if he.GetStatus() != 401 || !strings.HasPrefix(he.GetHeaders().Get("WWW-Authenticate"), "Bearer") ||
		he.ContentType("application/json") != "application/problem+json" {
		t.Errorf("status %d, headers %v, content type %q", he.GetStatus(), he.GetHeaders(), he.ContentType("application/json"))
	}
}

func TestUnauthorizedAndForbidden(t *testing.T) {
	w := httptest.NewRecorder()
	auth.Unauthorized(w, "sign in first")
	assertProblem(t, w, http.StatusUnauthorized, "sign in first")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer realm="herald"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	w = httptest.NewRecorder()
	auth.Forbidden(w, "not yours")
	assertProblem(t, w, http.StatusForbidden, "not yours")
}
