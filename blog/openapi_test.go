package blog_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		path := filepath.Join("..", "api", "blog-"+strings.TrimPrefix(name, "blog-")+".json")
		if *update {
			if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./blog -run OpenAPI -update)", err)
		}
		if !bytes.Equal(pretty.Bytes(), want) {
			t.Errorf("%s serves an OpenAPI description that differs from %s; run go test ./blog -run OpenAPI -update and commit", name, path)
		}
	}
}
