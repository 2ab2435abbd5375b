package orders

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/httpapi"
)

type createInput struct {
	Body struct {
		UserID    int64 `json:"userId" minimum:"1" doc:"The ordering user's id"`
		ProductID int64 `json:"productId" minimum:"1" doc:"The ordered product's id"`
	}
}

type idInput struct {
	ID int64 `path:"id" minimum:"1" doc:"Order id"`
}

type listInput struct {
	UserID int64 `query:"userId" minimum:"1" required:"true" doc:"The user whose orders to list"`
}

type listOutput struct {
	Body []Order `nullable:"false"`
}

type createdOutput struct {
	Location string `header:"Location"`
	Body     Order
}

type orderOutput struct {
	Body Order
}

// Register adds the orders routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-order", Method: http.MethodPost, Path: "/orders",
		Summary: "Place an order", DefaultStatus: http.StatusCreated,
		Description: "The user and product must be known to orders from their events (422 names the unknown one). Emits shop.order.created.v1.",
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		o, err := s.Create(ctx, in.Body.UserID, in.Body.ProductID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/orders/" + strconv.FormatInt(o.ID, 10), Body: o}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-orders", Method: http.MethodGet, Path: "/orders", Summary: "List a user's orders",
		Description: "Newest first, cancelled ones included; an empty list for a user without orders.",
	}, func(ctx context.Context, in *listInput) (*listOutput, error) {
		os, err := s.ListByUser(ctx, in.UserID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &listOutput{Body: os}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-order", Method: http.MethodGet, Path: "/orders/{id}", Summary: "Get an order",
	}, func(ctx context.Context, in *idInput) (*orderOutput, error) {
		o, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &orderOutput{Body: o}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "cancel-order", Method: http.MethodDelete, Path: "/orders/{id}", Summary: "Cancel an order",
		Description: "Emits shop.order.cancelled.v1. Cancelling a cancelled order returns it unchanged and emits nothing.",
	}, func(ctx context.Context, in *idInput) (*orderOutput, error) {
		o, err := s.Cancel(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &orderOutput{Body: o}, nil
	})
}
