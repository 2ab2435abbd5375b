package gateway_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite api/blog-gateway.json")

// TestOpenAPIDescriptionIsCurrent checks that api/blog-gateway.json, the
// OpenAPI 3.1 description kept in the repository, matches what the gateway
// serves at /openapi.json, /events included. Run with -update after an API
// change.
func TestOpenAPIDescriptionIsCurrent(t *testing.T) {
	e := newEnv(t)
	a := send(t, "GET", e.url("/openapi.json"), nil, "")
	if a.code != 200 {
		t.Fatalf("/openapi.json: %s", a)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, a.body, "", "  "); err != nil {
		t.Fatal(err)
	}
	pretty.WriteByte('\n')
	for _, op := range []string{`"post-event"`, `"list-events"`, `"create-subscription"`, `"delete-subscription"`} {
		if !bytes.Contains(pretty.Bytes(), []byte(op)) {
			t.Errorf("the description lacks operation %s", op)
		}
	}
	path := filepath.Join("..", "api", "blog-gateway.json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./gateway -run OpenAPI -update)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("the gateway serves an OpenAPI description that differs from %s; run go test ./gateway -run OpenAPI -update and commit", path)
	}
}
