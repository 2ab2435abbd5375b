package orders

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/auth"
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

// owned returns order id if the caller may see it: its user's or an
// admin's token. For anyone else it is an ENotFound like a missing order's,
// so that ids cannot be probed; without a token, a 401.
func owned(ctx context.Context, s *Service, id int64) (Order, error) {
	c, err := auth.Require(ctx)
	if err != nil {
		return Order{}, err
	}
	o, err := s.Get(ctx, id)
	if err != nil {
		return Order{}, err
	}
	if !c.Owns(o.UserID) {
		return Order{}, notFound(id)
	}
	return o, nil
}

// Register adds the orders routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-order", Method: http.MethodPost, Path: "/orders",
		Summary: "Place an order", DefaultStatus: http.StatusCreated,
		Description: "Needs the ordering user's token (or an admin's): 401 without one, 403 for another user's. The user and product must be known to orders from their events (422 names the unknown one). Emits shop.order.created.v1.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		c, err := auth.Require(ctx)
		if err != nil {
			return nil, err
		}
		if !c.Owns(in.Body.UserID) {
			return nil, httpapi.Forbidden(fmt.Sprintf("this token is user %d's; it may order only for that user, not for user %d", c.UserID, in.Body.UserID), "body.userId")
		}
		o, err := s.Create(ctx, in.Body.UserID, in.Body.ProductID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/orders/" + strconv.FormatInt(o.ID, 10), Body: o}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-orders", Method: http.MethodGet, Path: "/orders", Summary: "List a user's orders",
		Description: "Newest first, cancelled ones included; an empty list for a user without orders. Only that user (or an admin) may list them.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *listInput) (*listOutput, error) {
		c, err := auth.Require(ctx)
		if err != nil {
			return nil, err
		}
		if !c.Owns(in.UserID) {
			return &listOutput{Body: []Order{}}, nil // another's orders are not this caller's to see, or to know of
		}
		os, err := s.ListByUser(ctx, in.UserID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &listOutput{Body: os}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-order", Method: http.MethodGet, Path: "/orders/{id}", Summary: "Get an order",
		Description: "Only the order's user (or an admin) may see it; for anyone else it does not exist (404).",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *idInput) (*orderOutput, error) {
		o, err := owned(ctx, s, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &orderOutput{Body: o}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "cancel-order", Method: http.MethodDelete, Path: "/orders/{id}", Summary: "Cancel an order",
		Description: "Only the order's user (or an admin) may cancel it; for anyone else it does not exist (404). Emits shop.order.cancelled.v1. Cancelling a cancelled order returns it unchanged and emits nothing.",
		Security:    httpapi.Bearer,
	}, func(ctx context.Context, in *idInput) (*orderOutput, error) {
		if _, err := owned(ctx, s, in.ID); err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		o, err := s.Cancel(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &orderOutput{Body: o}, nil
	})
}
