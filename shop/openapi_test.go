package shop_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

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
		resp, err := http.Get(s.URL() + "/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s /openapi.json: %d %v", name, resp.StatusCode, err)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			t.Fatal(err)
		}
		pretty.WriteByte('\n')
		path := filepath.Join("..", "api", "shop-"+name+".json")
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./shop -run OpenAPI -update)", err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s serves an OpenAPI description that differs from %s; run go test ./shop -run OpenAPI -update and commit", name, path)
		}
	}
}
