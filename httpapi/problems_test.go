package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldev/herald/httpapi"
)

// The mux's own 404 and 405 become problem details naming what to do; a
// handler's own 404, body and streaming pass through untouched.
func TestWithProblemsReplacesOnlyTheMuxsOwnAnswers(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "404" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"mine":true}`))
			return
		}
		_, _ = w.Write([]byte("thing " + r.PathValue("id")))
		http.NewResponseController(w).Flush()
	})
	h := httpapi.WithProblems(mux)
	do := func(method, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
		return w
	}
	problem := func(w *httptest.ResponseRecorder) string {
		var p struct{ Detail string }
		if w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil {
			return ""
		}
		return p.Detail
	}

	if w := do("GET", "/nothing"); w.Code != 404 || !strings.Contains(problem(w), "no route for GET /nothing") {
		t.Errorf("unknown path: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	if w := do("POST", "/things/1"); w.Code != 405 || !strings.Contains(problem(w), "/things/1 does not allow POST; it allows GET") || w.Header().Get("Allow") == "" {
		t.Errorf("wrong method: %d %q %q", w.Code, w.Header().Get("Allow"), w.Body.String())
	}
	if w := do("GET", "/things/404"); w.Code != 404 || w.Body.String() != `{"mine":true}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("a handler's own 404: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	if w := do("GET", "/things/7"); w.Code != 200 || w.Body.String() != "thing 7" || !w.Flushed {
		t.Errorf("a route: %d %q flushed %v", w.Code, w.Body.String(), w.Flushed)
	}
}
