package query

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/httpapi"
)

type postsOutput struct {
	Body map[string]Post
}

// Register adds the query routes to api.
func Register(api huma.API, s *Service, log *slog.Logger) {
	huma.Register(api, huma.Operation{
		OperationID: "list-posts-with-comments", Method: http.MethodGet, Path: "/posts",
		Summary: "Every post with its comments, keyed by post id",
		Description: `The tutorial's shape: {"<id>": {"id", "title", "comments": [{"id", "content", "status"}]}}, ` +
			"comments oldest first. Answered from the query service's own read model only; a comment whose post " +
			"has not arrived yet is not shown until it does.",
	}, func(ctx context.Context, _ *struct{}) (*postsOutput, error) {
		ps, err := s.Posts(ctx)
		if err != nil {
			return nil, httpapi.Error(ctx, log, err)
		}
		return &postsOutput{Body: ps}, nil
	})
}
