package query

import (
	"context"
	"log/slog"
	"net/http"

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
	huma.Register(api, huma.Operation{
		OperationID: "user-products", Method: http.MethodGet, Path: "/users/{id}/products",
		Summary:     "Products a user has ordered",
		Description: "Each product once, newest order first, with its current title, image, price and currency; cancelled orders do not count. Answered from the query service's own read model only, the token verified locally (no call to users). Needs that user's token (or an admin's); 404 for a user no event has mentioned, and for another user's.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *userInput) (*productsOutput, error) {
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
