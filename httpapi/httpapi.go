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
)

// NewAPI returns a Huma API on mux, serving its OpenAPI 3.1 description at
// /openapi.json and docs at /docs. Unknown paths answer a 404 problem.
func NewAPI(mux *http.ServeMux, title, version string) huma.API {
	cfg := huma.DefaultConfig(title, version)
	cfg.CreateHooks = nil // no "$schema" links in bodies: plain JSON for any client
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path+"; see /docs for this service's API")
	})
	return humago.New(mux, cfg)
}

// status maps each error code to its HTTP status. It is the only such table.
var status = map[herald.Code]int{
	herald.EInvalid:     http.StatusUnprocessableEntity,
	herald.ENotFound:    http.StatusNotFound,
	herald.EConflict:    http.StatusConflict,
	herald.EUnavailable: http.StatusServiceUnavailable,
	herald.EInternal:    http.StatusInternalServerError,
}

// Error converts err into a Huma problem-details error. A *herald.Error keeps
// its message and field; any other error is logged with its context and
// shown to the caller only as "internal error".
func Error(ctx context.Context, log *slog.Logger, err error) error {
	var e *herald.Error
	if !errors.As(err, &e) || e.Code == herald.EInternal {
		log.ErrorContext(ctx, "internal error", "err", err)
		return huma.Error500InternalServerError("internal error; the server logged the details")
	}
	code, ok := status[e.Code]
	if !ok {
		code = http.StatusInternalServerError
	}
	if e.Field != "" {
		return huma.NewError(code, e.Message, &huma.ErrorDetail{Message: e.Message, Location: e.Field})
	}
	return huma.NewError(code, e.Message)
}

// WriteProblem writes an RFC 9457 problem with the given status and detail,
// for plain handlers outside Huma.
func WriteProblem(w http.ResponseWriter, code int, detail string) {
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
			errs = append(errs, &huma.ErrorDetail{Location: prefix.With(name), Message: "must not be blank", Value: *v})
		}
	}
	return errs
}
