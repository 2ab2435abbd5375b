package comments

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/httpapi"
)

type postInput struct {
	ID string `path:"id" minLength:"1" maxLength:"200" doc:"Post id"`
}

type createInput struct {
	ID   string `path:"id" minLength:"1" maxLength:"200" doc:"Post id"`
	Body struct {
		Content string `json:"content" minLength:"1" maxLength:"5000" doc:"Comment text"`
	}
}

func (in *createInput) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	fields := map[string]*string{"body.content": &in.Body.Content}
	return append(httpapi.NotBlank(prefix, fields), httpapi.Text(prefix, fields)...)
}

type listOutput struct {
	Body []Comment
}

// Register adds the comments routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "create-comment", Method: http.MethodPost, Path: "/posts/{id}/comments",
		Summary: "Comment on a post", DefaultStatus: http.StatusCreated,
		Description: "Adds a pending comment and emits CommentCreated {id, content, postId, status}. " +
			"Answers the post's whole comment list, oldest first. 404 for a post comments has not heard of " +
			"(it learns of posts from their PostCreated events, so retry a just-created post in a moment).",
	}, func(ctx context.Context, in *createInput) (*listOutput, error) {
		list, err := s.Create(ctx, in.ID, in.Body.Content)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &listOutput{Body: list}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "list-comments", Method: http.MethodGet, Path: "/posts/{id}/comments",
		Summary:     "A post's comments",
		Description: "Oldest first, each with its moderation status. 404 for a post comments has not heard of.",
	}, func(ctx context.Context, in *postInput) (*listOutput, error) {
		list, err := s.List(ctx, in.ID)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &listOutput{Body: list}, nil
	})
}
