package products

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/httpapi"
)

type createInput struct {
	Body struct {
		Title    string `json:"title" minLength:"1" maxLength:"1000" doc:"Product title"`
		Image    string `json:"image" minLength:"1" maxLength:"2048" doc:"Image URL or file name"`
		Price    int64  `json:"price,omitempty" minimum:"0" default:"0" doc:"Price in minor units of currency (1999 is 19.99); 0 if left out"`
		Currency string `json:"currency,omitempty" pattern:"^[A-Z]{3}$" patternDescription:"three upper-case letters (ISO 4217), such as EUR" default:"EUR" doc:"ISO 4217 currency code; EUR if left out"`
	}
}

func (in *createInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	fields := map[string]*string{"body.title": &in.Body.Title, "body.image": &in.Body.Image}
	return append(httpapi.NotBlank(prefix, fields), httpapi.SingleLine(prefix, fields)...)
}

type updateInput struct {
	ID   int64 `path:"id" minimum:"1" doc:"Product id"`
	Body struct {
		Title    *string `json:"title,omitempty" minLength:"1" maxLength:"1000" doc:"New title"`
		Image    *string `json:"image,omitempty" minLength:"1" maxLength:"2048" doc:"New image URL or file name"`
		Price    *int64  `json:"price,omitempty" minimum:"0" doc:"New price in minor units of currency (1999 is 19.99)"`
		Currency *string `json:"currency,omitempty" pattern:"^[A-Z]{3}$" patternDescription:"three upper-case letters (ISO 4217), such as EUR" doc:"New ISO 4217 currency code"`
	}
}

func (in *updateInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	fields := map[string]*string{"body.title": in.Body.Title, "body.image": in.Body.Image}
	return append(httpapi.NotBlank(prefix, fields), httpapi.SingleLine(prefix, fields)...)
}

type getInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Product id"`
}

type createdOutput struct {
	Location string `header:"Location"`
	Body     Product
}

type productOutput struct {
	Body Product
}

// Register adds the products routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-product", Method: http.MethodPost, Path: "/products",
		Summary: "Add a product", DefaultStatus: http.StatusCreated,
		Description: "Needs an admin's token (401 without a token, 403 for a user's). Stores the product at version 1 and emits shop.product.created.v2. price and currency may be left out: 0 EUR.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		p, err := s.Create(ctx, in.Body.Title, in.Body.Image, in.Body.Price, in.Body.Currency)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/products/" + strconv.FormatInt(p.ID, 10), Body: p}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "update-product", Method: http.MethodPut, Path: "/products/{id}",
		Summary:     "Change a product's title, image or price",
		Description: "Needs an admin's token (401 without a token, 403 for a user's). Fields left out keep their value. A change bumps the version and emits shop.product.updated.v2 with the whole product.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *updateInput) (*productOutput, error) {
		if _, err := auth.Admin(ctx); err != nil {
			return nil, err
		}
		// Checked here, not in Resolve, so a body that failed to parse does
		// not also get this error.
		b := in.Body
		if b.Title == nil && b.Image == nil && b.Price == nil && b.Currency == nil {
			return nil, httpapi.Error(ctx, log, herald.FieldError("body", "give at least one of title, image, price and currency"))
		}
		p, err := s.Update(ctx, in.ID, Change{Title: b.Title, Image: b.Image, Price: b.Price, Currency: b.Currency})
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &productOutput{Body: p}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-product", Method: http.MethodGet, Path: "/products/{id}", Summary: "Get a product",
	}, func(ctx context.Context, in *getInput) (*productOutput, error) {
		p, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &productOutput{Body: p}, nil
	})
}
