package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Hints that end the detail of a 401, telling the caller how to get a token.
const (
	signInHint   = "sign in again with POST /sessions"
	operatorHint = "use a fresh admin token (herald up writes an operator token to its data dir)"
)

type claimsKey struct{}

// WithClaims returns a copy of ctx that carries c, as Middleware does for a
// verified token. Tests use it to call handlers as a given user.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the claims Middleware or WithClaims put in ctx, and
// false if there are none.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, _ := ctx.Value(claimsKey{}).(*Claims)
	return c, c != nil
}

// Require returns the claims in ctx, or, if the request carried no token, a
// *Denied with Status 401 telling the caller to sign in.
func Require(ctx context.Context) (*Claims, error) {
	if c, ok := FromContext(ctx); ok {
		return c, nil
	}
	return nil, unauthorized("this request needs a token: sign in with POST /sessions and send the token as Authorization: Bearer <token>")
}

// RequireOwner is Require for userID's data: it returns the claims if they
// Own userID, a *Denied with Status 403 if they belong to someone else, and
// one with Status 401 if there are none.
func RequireOwner(ctx context.Context, userID int64) (*Claims, error) {
	c, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	if !c.Owns(userID) {
		return nil, forbidden(fmt.Sprintf("this token may act only on its own user's data, not on user %d's", userID))
	}
	return c, nil
}

// Admin returns the claims in ctx if they carry the admin role, a *Denied
// with Status 403 for a token without it, and one with Status 401 if there
// is no token.
func Admin(ctx context.Context) (*Claims, error) {
	c, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	if !c.IsAdmin() {
		return nil, forbidden("this needs the admin role, which this token does not have")
	}
	return c, nil
}

// Bearer returns the token of an "Authorization: Bearer <token>" header (the
// scheme in any case), and false if there is no such header or it carries no
// token.
func Bearer(r *http.Request) (string, bool) {
	tok, ok := bearer(r.Header.Get("Authorization"))
	return tok, ok && tok != ""
}

// bearer parses an Authorization header value; ok says whether its scheme
// is Bearer, even if the token is empty.
func bearer(h string) (token string, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// Middleware verifies the bearer token of each request that has one and
// passes the request on with the token's *Claims in its context. A request
// whose token does not verify (malformed, expired, unknown key id, bad
// signature) is answered 401 with a problem+json body and
// WWW-Authenticate: Bearer realm="herald", error="invalid_token". A request
// without an Authorization: Bearer header passes through unchanged: each
// route decides whether it needs claims.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		c, denied := v.authenticate(tok, signInHint)
		if denied != nil {
			denied.Write(w)
			return
		}
		r2 := r.WithContext(WithClaims(r.Context(), c))
		next.ServeHTTP(w, r2)
		r.Pattern = r2.Pattern // the route the mux chose, for middleware around this one (a span's name)
	})
}

// RequireAdmin serves next only for requests with a valid admin token, for
// operator routes such as /metrics, /status and pprof. It answers 401
// without a token or with an invalid one, and 403 for a valid token without
// the admin role. Claims already in the request context (from Middleware)
// are used as they are; otherwise v verifies the token, so v must not be nil.
func RequireAdmin(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := FromContext(r.Context())
		if !ok {
			tok, isBearer := bearer(r.Header.Get("Authorization"))
			if !isBearer {
				Unauthorized(w, "this route needs an admin token: send it as Authorization: Bearer <token>")
				return
			}
			var denied *Denied
			if c, denied = v.authenticate(tok, operatorHint); denied != nil {
				denied.Write(w)
				return
			}
			r = r.WithContext(WithClaims(r.Context(), c))
		}
		if !c.IsAdmin() {
			Forbidden(w, "this route needs an admin token; the token sent is a user's")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate verifies tok, or returns the 401 that explains why it does
// not verify, ending with hint.
func (v *Verifier) authenticate(tok, hint string) (*Claims, *Denied) {
	if tok == "" {
		return nil, challenge("invalid_request", "the Authorization header names the Bearer scheme but carries no token; "+hint)
	}
	c, err := v.Verify(tok)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, ErrNotYetValid):
		return nil, challenge("invalid_token", err.Error()+"; check this machine's clock, or "+hint)
	default:
		return nil, challenge("invalid_token", err.Error()+"; "+hint)
	}
}

// Denied is a request refused for want of a valid token (Status 401) or of
// the right to act (Status 403). Its JSON is an RFC 9457 problem detail
// ({"title","status","detail"}), and Detail says what to do. Besides Write,
// it has the methods GetStatus, GetHeaders and ContentType, so a Huma
// handler can return it as its error and Huma answers with its status,
// WWW-Authenticate header and problem+json body.
type Denied struct {
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	challenge string // the WWW-Authenticate value of a 401
}

func (d *Denied) Error() string { return d.Detail }

// GetStatus returns d.Status.
func (d *Denied) GetStatus() int { return d.Status }

// GetHeaders returns the WWW-Authenticate header of a 401, and none for
// other statuses.
func (d *Denied) GetHeaders() http.Header {
	if d.Status != http.StatusUnauthorized {
		return http.Header{}
	}
	c := d.challenge
	if c == "" {
		c = `Bearer realm="herald"`
	}
	return http.Header{"Www-Authenticate": {c}}
}

// ContentType returns application/problem+json, whatever ct was asked.
func (d *Denied) ContentType(_ string) string { return "application/problem+json" }

// Write answers the request with d: its status, headers and problem JSON.
func (d *Denied) Write(w http.ResponseWriter) {
	h := w.Header()
	for k, vs := range d.GetHeaders() {
		h[k] = vs
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(d.Status)
	_ = json.NewEncoder(w).Encode(d)
}

// Unauthorized answers 401 with WWW-Authenticate: Bearer realm="herald" and
// a problem+json body whose detail is detail.
func Unauthorized(w http.ResponseWriter, detail string) { unauthorized(detail).Write(w) }

// Forbidden answers 403 with a problem+json body whose detail is detail.
func Forbidden(w http.ResponseWriter, detail string) { forbidden(detail).Write(w) }

func unauthorized(detail string) *Denied {
	return &Denied{Title: http.StatusText(http.StatusUnauthorized), Status: http.StatusUnauthorized, Detail: detail}
}

func forbidden(detail string) *Denied {
	return &Denied{Title: http.StatusText(http.StatusForbidden), Status: http.StatusForbidden, Detail: detail}
}

// challenge is a 401 whose WWW-Authenticate names an RFC 6750 error code.
func challenge(code, detail string) *Denied {
	d := unauthorized(detail)
	d.challenge = fmt.Sprintf(`Bearer realm="herald", error=%q, error_description="%s"`, code, quotable(detail))
	return d
}

// quotable keeps only the characters RFC 6750 allows in error_description.
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return ' '
		}
		return r
	}, s)
}
