package service

import (
	"net/http"
	"strconv"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
)

// Limits bound what one client may ask of a service.
type Limits struct {
	// Sizes of a request's URL, headers and body (httpapi.Limits);
	// zero fields take httpapi's defaults: 8 KiB, 32 KiB, 1 MiB.
	httpapi.LimitOptions
	// WriteRate is how many writes (POST, PUT, PATCH, DELETE) a second
	// one client may make, after a burst of twice as many: a signed-in
	// user by user id, anyone else by address. The operator's token is
	// exempt. 0 means no limit. Default DefaultWriteRate.
	WriteRate float64
	// SignInRate is how many sign-ins (POST /sessions) a second one
	// address may try, after a burst of SignInBurst; the users service
	// limits each email on its own as well. Default DefaultSignInRate.
	SignInRate float64
}

// Defaults of Limits.
const (
	DefaultWriteRate  = 100
	DefaultSignInRate = 1
	SignInBurst       = 20
	maxClients        = 100_000 // clients each limiter remembers; the idlest are forgotten first
)

// limit wraps next, which runs after authenticate, with the service's
// rate limits.
func (s *Service) limit(next http.Handler) (http.Handler, error) {
	h := next
	if r := s.Limits.WriteRate; r > 0 {
		l, err := httpapi.NewRateLimiter(r, max(1, int(2*r)), maxClients)
		if err != nil {
			return nil, err
		}
		h = httpapi.RateLimit(l, writer, h)
	}
	if r := s.Limits.SignInRate; r > 0 {
		l, err := httpapi.NewRateLimiter(r, SignInBurst, maxClients)
		if err != nil {
			return nil, err
		}
		h = httpapi.RateLimit(l, signIn, h)
	}
	return h, nil
}

// writer keys a write by its caller: the user, or the address of an
// anonymous one; reads and the operator are not limited ("").
func writer(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	if c, ok := auth.FromContext(r.Context()); ok {
		if c.IsAdmin() {
			return ""
		}
		return "user " + strconv.FormatInt(c.UserID, 10)
	}
	return httpapi.ClientIP(r)
}

// signIn keys a sign-in by the caller's address.
func signIn(r *http.Request) string {
	if r.Method == http.MethodPost && r.URL.Path == "/sessions" {
		return httpapi.ClientIP(r)
	}
	return ""
}
