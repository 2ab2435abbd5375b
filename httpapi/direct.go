package httpapi

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
)

// Direct registers op on api as huma.Register does, with the same input
// checks, errors and OpenAPI description, and puts fast in front of it: each
// request goes to fast first, which answers the requests it can and returns
// true; every other request (input fast does not take, a refusal, a miss)
// goes on to handler through Huma, answered exactly as without fast.
//
// It is for a hot route, where Huma's per-request work (binding the input,
// validating it, encoding the output by reflection) costs more than the
// answer: fast takes the plain request and writes bytes it has ready.
func Direct[I, O any](api huma.API, op huma.Operation, fast func(http.ResponseWriter, *http.Request) bool, handler func(context.Context, *I) (*O, error)) {
	huma.Register(directAPI{API: api, fast: fast}, op, handler)
}

// directAPI is api with an adapter that puts fast in front of the handler
// huma.Register builds.
type directAPI struct {
	huma.API
	fast func(http.ResponseWriter, *http.Request) bool
}

func (d directAPI) Adapter() huma.Adapter {
	return directAdapter{Adapter: d.API.Adapter(), fast: d.fast}
}

type directAdapter struct {
	huma.Adapter
	fast func(http.ResponseWriter, *http.Request) bool
}

func (a directAdapter) Handle(op *huma.Operation, handler func(huma.Context)) {
	a.Adapter.Handle(op, func(c huma.Context) {
		if r, w, ok := unwrap(c); ok && a.fast(w, r) {
			return
		}
		handler(c)
	})
}

// unwrap returns the request and writer behind a context of Huma's net/http
// adapter; ok is false for any other adapter's context.
func unwrap(c huma.Context) (r *http.Request, w http.ResponseWriter, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	r, w = humago.Unwrap(c)
	return r, w, true
}
