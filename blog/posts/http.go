package posts

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/httpapi"
)

type createInput struct {
	Body struct {
		Title string `json:"title" minLength:"1" maxLength:"200" doc:"Post title"`
	}
}

func (in *createInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	fields := map[string]*string{"body.title": &in.Body.Title}
	return append(httpapi.NotBlank(prefix, fields), httpapi.SingleLine(prefix, fields)...)
}

type getInput struct {
	ID string `path:"id" minLength:"1" maxLength:"200" doc:"Post id"`
}

type createdOutput struct {
	Location string `header:"Location"`
	Body     Post
}

type postOutput struct {
	Body Post
}

type listOutput struct {
	Body map[string]Post
}

// Register adds the posts routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-post", Method: http.MethodPost, Path: "/posts",
		Summary: "Write a post", DefaultStatus: http.StatusCreated,
		Description: "Stores the post under a new UUIDv7 id and emits PostCreated {id, title}.",
	}, func(ctx context.Context, in *createInput) (*createdOutput, error) {
		p, err := s.Create(ctx, in.Body.Title)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &createdOutput{Location: "/posts/" + p.ID, Body: p}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-posts", Method: http.MethodGet, Path: "/posts",
		Summary:     "Every post, keyed by id",
		Description: `The tutorial's shape: {"<id>": {"id": "<id>", "title": "..."}, ...}.`,
	}, func(ctx context.Context, _ *struct{}) (*listOutput, error) {
		ps, err := s.List(ctx)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &listOutput{Body: ps}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "get-post", Method: http.MethodGet, Path: "/posts/{id}", Summary: "Get a post",
	}, func(ctx context.Context, in *getInput) (*postOutput, error) {
		p, err := s.Get(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &postOutput{Body: p}, nil
	})
}
