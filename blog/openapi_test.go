package blog_test

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldev/herald/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the OpenAPI descriptions in api/")

// TestBlogOpenAPIDescriptionsAreCurrent checks that api/blog-<service>.json,
// the OpenAPI 3.1 descriptions kept in the repository, match what the
// services serve at /openapi.json. Moderation has no API of its own. Run
// with -update after an API change.
func TestBlogOpenAPIDescriptionsAreCurrent(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"posts", "comments", "blog-query"} {
		s := e.start(name)
		path := filepath.Join("..", "api", "blog-"+strings.TrimPrefix(name, "blog-")+".json")
		testenv.CheckOpenAPI(t, s.URL(), path, *update)
	}
}
