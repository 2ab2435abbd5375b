package gateway_test

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite api/blog-gateway.json")

// TestOpenAPIDescriptionIsCurrent checks that api/blog-gateway.json, the
// OpenAPI 3.1 description kept in the repository, matches what the gateway
// serves at /openapi.json, /events included. Run with -update after an API
// change.
func TestOpenAPIDescriptionIsCurrent(t *testing.T) {
	e := newEnv(t)
	desc := testenv.CheckOpenAPI(t, e.url(""), filepath.Join("..", "api", "blog-gateway.json"), *update)
	for _, op := range []string{`"post-event"`, `"list-events"`, `"create-subscription"`, `"delete-subscription"`} {
		if !bytes.Contains(desc, []byte(op)) {
			t.Errorf("the description lacks operation %s", op)
		}
	}
}
