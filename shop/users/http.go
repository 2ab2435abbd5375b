package users

import (
	"context"
	"log/slog"
	"net/http"
	"net/mail"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/httpapi"
)

type createInput struct {
	Body struct {
		Name  string `json:"name" minLength:"1" maxLength:"200" doc:"Display name"`
		Email string `json:"email" minLength:"3" maxLength:"320" format:"email" doc:"Email address; unique"`
	}
}

func (in *createInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	errs := httpapi.NotBlank(prefix, map[string]*string{"body.name": &in.Body.Name})
	// format:"email" accepts "Name <addr>"; only a bare address is an email
	// here, or "Bob <ann@example.com>" would slip past the uniqueness check.
	if a, err := mail.ParseAddress(in.Body.Email); err == nil && a.Address != in.Body.Email {
		errs = append(errs, &huma.ErrorDetail{Location: prefix.With("body.email"), Message: "must be a bare address such as ann@example.com, without a name or angle brackets", Value: in.Body.Email})
	}
	return errs
}

type getInput struct {
	ID int64 `path:"id" minimum:"1" doc:"User id"`
}

type createdOutput struct {
	Location string `header:"Location"`
	Body     User
}

type userOutput struct {
	Body User
}

// Register adds the users routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-user", Method: http.MethodPost, Path: "/users",
		Summary: "Sign a user up", DefaultStatus: http.StatusCreated,
		Description: "Stores the user and emits shop.user.created.v1 in the same transaction.",
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		u, err := s.Create(ctx, in.Body.Name, in.Body.Email)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/users/" + strconv.FormatInt(u.ID, 10), Body: u}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-user", Method: http.MethodGet, Path: "/users/{id}", Summary: "Get a user",
	}, func(ctx context.Context, in *getInput) (*userOutput, error) {
		u, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &userOutput{Body: u}, nil
	})
}
