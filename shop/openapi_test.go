package shop_test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/shop"
)

var update = flag.Bool("update", false, "rewrite the OpenAPI descriptions in api/")

// TestOpenAPIDescriptionsAreCurrent checks that api/shop-<service>.json, the
// OpenAPI 3.1 descriptions kept in the repository, match what the services
// serve at /openapi.json. Run with -update after an API change.
func TestOpenAPIDescriptionsAreCurrent(t *testing.T) {
	e := newEnv(t)
	for _, name := range shop.Services {
		s := e.start(name)
		testenv.CheckOpenAPI(t, s.URL(), filepath.Join("..", "api", "shop-"+name+".json"), *update)
	}
}
