package query

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
)

type userInput struct {
	ID int64 `path:"id" minimum:"1" doc:"User id"`
}

type productsOutput struct {
	Body []Product
}

// Register adds the query routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	httpapi.Direct(api, huma.Operation{
		OperationID: "user-products", Method: http.MethodGet, Path: "/users/{id}/products",
		Summary:     "Products a user has ordered",
		Description: "Each product once, newest order first, with its current title, image, price and currency; cancelled orders do not count. Answered from the query service's own read model only, the token verified locally (no call to users). Needs that user's token (or an admin's); 404 for a user no event has mentioned, and for another user's.",
		Security:    httpapi.Bearer,
	}, s.serveUserProducts, func(ctx context.Context, in *userInput) (*productsOutput, error) {
		c, err := auth.Require(ctx)
		if err != nil {
			return nil, err
		}
		if !c.Owns(in.ID) {
			return nil, httpapi.Error(ctx, log, UnknownUser(in.ID))
		}
		ps, err := s.UserProducts(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &productsOutput{Body: ps}, nil
	})
}

// answerBufs hold answers being written; most are under 1 KiB.
var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// serveUserProducts is the hot route's fast path: a caller allowed to see a
// known user gets the answer written from the view's encoded products. It
// returns false, having written nothing, for every other request, which
// the route's Huma handler then answers with its checks and errors.
func (s *Service) serveUserProducts(w http.ResponseWriter, r *http.Request) bool {
	if s == nil {
		return false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return false
	}
	if c, ok := auth.FromContext(r.Context()); !ok || !c.Owns(id) {
		return false
	}
	bp := answerBufs.Get().(*[]byte)
	b, known := s.v.appendUserProducts((*bp)[:0], id)
	defer func() {
		if cap(b) <= 64<<10 { // a rare huge answer is not kept
			*bp = b[:0]
			answerBufs.Put(bp)
		}
	}()
	if !known {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	return true
}
