package testenv

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// CheckOpenAPI fetches serviceURL/openapi.json and compares it, indented
// with two spaces and ending in a newline, with the golden file at path.
// With update it writes the file instead. It fails the test if the fetch
// does not answer 200 with JSON or the golden file cannot be read or
// written, and reports an error if the two differ. It returns the indented
// description.
func CheckOpenAPI(t testing.TB, serviceURL, path string, update bool) []byte {
	t.Helper()
	code, _, raw := Send(t, "GET", serviceURL+"/openapi.json", "", nil)
	if code != http.StatusOK {
		t.Fatalf("%s/openapi.json: status %d: %.200s", serviceURL, code, raw)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		t.Fatalf("%s/openapi.json: %v", serviceURL, err)
	}
	pretty.WriteByte('\n')
	rerun := "run go test -run OpenAPI -update"
	if wd, err := os.Getwd(); err == nil {
		rerun = "run go test ./" + filepath.Base(wd) + " -run OpenAPI -update"
	}
	if update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return pretty.Bytes()
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s)", err, rerun)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("%s serves an OpenAPI description that differs from %s; %s and commit", serviceURL, path, rerun)
	}
	return pretty.Bytes()
}
