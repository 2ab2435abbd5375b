package testenv

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// run calls f with a recorder on its own goroutine, so that a fatal failure
// ends only f, and returns the failures.
func run(t *testing.T, f func(testing.TB)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func TestEventuallyReportsTheLastError(t *testing.T) {
	calls := 0
	Eventually(t, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	got := run(t, func(tb testing.TB) {
		n := 0
		Eventually(tb, 20*time.Millisecond, func() error { n++; return fmt.Errorf("try %d", n) })
	})
	if len(got) != 1 || !strings.HasPrefix(got[0], "not true after 20ms: try ") {
		t.Fatalf("failures %q", got)
	}
}

func TestSendAndDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, `{"ct":%q,"origin":%q,"body":%q}`, r.Header.Get("Content-Type"), r.Header.Get("Origin"), body)
	}))
	defer srv.Close()
	code, _, raw := Send(t, "POST", srv.URL, "text/plain", strings.NewReader("hi"), "Origin", "o")
	if want := `{"ct":"text/plain","origin":"o","body":"hi"}`; code != 200 || string(raw) != want {
		t.Fatalf("Send: %d %s, want 200 %s", code, raw, want)
	}
	for body, want := range map[any]string{nil: "", "raw": "raw", 7: "7"} {
		var out struct{ CT, Body string }
		MustDo(t, 200, "POST", srv.URL, body, &out)
		if out.Body != want || (body != nil) != (out.CT == "application/json") {
			t.Errorf("Do(%v): %+v, want body %q", body, out, want)
		}
	}
	if got := run(t, func(tb testing.TB) { Send(tb, "GET", srv.URL, "", nil, "Origin") }); len(got) != 1 {
		t.Errorf("an odd header list: failures %q", got)
	}
}

func TestCheckOpenAPI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/openapi.json" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"openapi":"3.1.0"}`)
	}))
	defer srv.Close()
	golden := filepath.Join(t.TempDir(), "api.json")
	if got := run(t, func(tb testing.TB) { CheckOpenAPI(tb, srv.URL, golden, false) }); len(got) != 1 || !strings.Contains(got[0], "-update") {
		t.Errorf("no golden file: failures %q", got)
	}
	CheckOpenAPI(t, srv.URL, golden, true)
	if raw, _ := os.ReadFile(golden); string(raw) != "{\n  \"openapi\": \"3.1.0\"\n}\n" {
		t.Errorf("written %q", raw)
	}
	CheckOpenAPI(t, srv.URL, golden, false)
	os.WriteFile(golden, []byte("{}\n"), 0o644)
	if got := run(t, func(tb testing.TB) { CheckOpenAPI(tb, srv.URL, golden, false) }); len(got) != 1 || !strings.Contains(got[0], "differs") {
		t.Errorf("a changed description: failures %q", got)
	}
	if got := run(t, func(tb testing.TB) { CheckOpenAPI(tb, srv.URL+"/nope", golden, false) }); len(got) != 1 || !strings.Contains(got[0], "404") {
		t.Errorf("no description: failures %q", got)
	}
}

func TestNATSEnsuresStreamsAndClosesOnce(t *testing.T) {
	n := NewNATS(t, t.TempDir(), Stream{Name: "T", Subjects: []string{"t.>"}})
	if _, err := n.Bus.LastSeq(t.Context(), "T"); err != nil {
		t.Fatal(err)
	}
	n.Close()
	n.Close() // and again at cleanup
}
