package service

import (
	"net/http"
	"strings"

	"github.com/heraldev/herald/auth"
)

// everyone are the claims of every request when authorization is off
// (Service.Auth nil): an admin, so that every route behaves as for an
// operator.
var everyone = &auth.Claims{Role: auth.RoleAdmin}

// authenticate puts the caller's claims in each request's context: those
// of its verified bearer token (a request with an invalid one is answered
// 401), or none for a request without one; with authorization off, every
// request gets the admin's.
func (s *Service) authenticate(next http.Handler) http.Handler {
	if s.Auth == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r2 := r.WithContext(auth.WithClaims(r.Context(), everyone))
			next.ServeHTTP(w, r2)
			r.Pattern = r2.Pattern // the route the mux chose: traceHTTP names the span after it
		})
	}
	verify := s.Auth.Middleware(next)
	if s.ForeignTokens == nil {
		return verify
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := auth.Bearer(r); ok && !looksLikeJWT(tok) && s.ForeignTokens(r) {
			next.ServeHTTP(w, r) // not Herald's: the route checks it itself
			return
		}
		verify.ServeHTTP(w, r)
	})
}

// looksLikeJWT reports whether tok has a JWT's shape: three base64url
// parts, the first a JSON object ("eyJ" encodes `{"`).
func looksLikeJWT(tok string) bool {
	return strings.HasPrefix(tok, "eyJ") && strings.Count(tok, ".") == 2
}

// operator serves next only to callers with the admin role (the operator
// token herald up writes to its data dir): 401 without a token, 403 for a
// user's. It relies on authenticate having run.
func operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth.FromContext(r.Context()); !ok {
			auth.Unauthorized(w, "this operator route needs the admin token: herald up writes it to <data>/secrets/admin.token (Authorization: Bearer $(cat herald-data/secrets/admin.token))")
			return
		}
		if c, _ := auth.FromContext(r.Context()); !c.IsAdmin() {
			auth.Forbidden(w, "this operator route needs the admin token; the token sent is a user's")
			return
		}
		next.ServeHTTP(w, r)
	})
}
