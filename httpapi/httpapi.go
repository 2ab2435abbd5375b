// Package httpapi holds what every Herald HTTP service shares: the Huma API
// configuration, the mapping from herald.Error codes to HTTP problem
// details, and the input checks Huma's schema tags cannot express.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/store"
)

// NewAPI returns a Huma API on mux, serving its OpenAPI 3.1 description at
// /openapi.json and docs at /docs.
func NewAPI(mux *http.ServeMux, title, version string) huma.API {
	cfg := huma.DefaultConfig(title, version)
	cfg.CreateHooks = nil // no "$schema" links in bodies: plain JSON for any client
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{"bearer": bearerScheme}
	return humago.New(mux, cfg)
}

// WithProblems serves mux, turning its plain-text answers for an unknown
// path (404) or a method the path does not allow (405, with Allow) into
// problem details.
//
// It routes each request once: the mux answers by itself only when no
// pattern matched, which leaves the request's Pattern empty, so a 404 or
// 405 written then is the mux's own, and any other (a handler's) passes
// as it is. (Asking mux.Handler first cost a second match per request,
// 3% of the query's CPU on its hot read.)
func WithProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&noRouteWriter{ResponseWriter: w, r: r}, r)
	})
}

// noRouteWriter replaces the mux's plain-text error with a problem.
type noRouteWriter struct {
	http.ResponseWriter
	r        *http.Request
	wrote    bool // the status is written
	replaced bool // with a problem: the mux's body is dropped
}

func (w *noRouteWriter) WriteHeader(code int) {
	if w.wrote {
		w.ResponseWriter.WriteHeader(code) // let net/http say it is superfluous
		return
	}
	w.wrote = true
	if (code != http.StatusNotFound && code != http.StatusMethodNotAllowed) || w.r.Pattern != "" {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	detail := "no route for " + w.r.Method + " " + w.r.URL.Path + "; see /docs for this service's API"
	if allow := w.Header().Get("Allow"); code == http.StatusMethodNotAllowed && allow != "" {
		detail = w.r.URL.Path + " does not allow " + w.r.Method + "; it allows " + allow
	}
	WriteProblem(w.ResponseWriter, code, detail)
}

func (w *noRouteWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil // the mux's plain-text body is dropped
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets a handler stream through the writer.
func (w *noRouteWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *noRouteWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// status maps each error code to its HTTP status. It is the only such table.
var status = map[herald.Code]int{
	herald.EInvalid:      http.StatusUnprocessableEntity,
	herald.ENotFound:     http.StatusNotFound,
	herald.EConflict:     http.StatusConflict,
	herald.EUnavailable:  http.StatusServiceUnavailable,
	herald.EUnauthorized: http.StatusUnauthorized,
	herald.EForbidden:    http.StatusForbidden,
	herald.EInternal:     http.StatusInternalServerError,
}

// Error converts err into a Huma problem-details error. A *herald.Error keeps
// its message and field; a database that cannot be reached is a 503 saying
// so (retry later; a write whose commit was cut off may have been made, as
// with any lost answer); any other error is logged with its context and
// shown to the caller only as "internal error".
func Error(ctx context.Context, log *slog.Logger, err error) error {
	var se huma.StatusError // already an HTTP answer: an auth.Denied, a Forbidden
	if errors.As(err, &se) {
		return err
	}
	var e *herald.Error
	if !errors.As(err, &e) && store.Unreachable(err) {
		log.WarnContext(ctx, "database unreachable", "err", err)
		e = herald.Errorf(herald.EUnavailable, "the service cannot reach its database; retry shortly")
	}
	if e == nil || e.Code == herald.EInternal {
		log.ErrorContext(ctx, "internal error", "err", err)
		return huma.Error500InternalServerError("internal error; the server logged the details")
	}
	code, ok := status[e.Code]
	if !ok {
		code = http.StatusInternalServerError
	}
	var out error = huma.NewError(code, e.Message)
	if e.Field != "" {
		out = huma.NewError(code, e.Message, &huma.ErrorDetail{Message: e.Message, Location: e.Field})
	}
	if code == http.StatusUnauthorized {
		out = huma.ErrorWithHeaders(out, http.Header{"Www-Authenticate": {`Bearer realm="herald"`}})
	}
	return out
}

// WriteProblem writes an RFC 9457 problem with the given status and detail,
// for plain handlers outside Huma.
func WriteProblem(w http.ResponseWriter, code int, detail string) {
	w.Header().Del("X-Content-Type-Options")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(huma.ErrorModel{Title: http.StatusText(code), Status: code, Detail: detail})
}

// NotBlank returns an error detail for each named field whose value is only
// whitespace. Call it from a body struct's Resolve method: Huma's minLength
// catches "" but not "   ".
func NotBlank(prefix *huma.PathBuffer, fields map[string]*string) []error {
	var errs []error
	for name, v := range fields {
		if v != nil && *v != "" && strings.TrimSpace(*v) == "" {
			errs = append(errs, &huma.ErrorDetail{Location: at(prefix, name), Message: "must not be blank", Value: *v})
		}
	}
	return errs
}
