package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// idleBus is the bus of a service with no consumers and no relay, which
// Start never calls: it has bus.Bus's methods through the nil interface, so
// any call would panic.
type idleBus struct{ bus.Bus }

// startService starts a service with nothing but its own routes, a fresh
// SQLite database and a random loopback port. It is stopped when the test
// ends, if the test has not stopped it.
func startService(t *testing.T) *service.Service {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := service.New("t", slog.New(slog.DiscardHandler))
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.DB, s.Addr = db, "127.0.0.1:0"
	if err := s.Start(ctx, idleBus{}); err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { stopService(t, s) })
	return s
}

func stopService(t *testing.T, s *service.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Error(err)
	}
}

// hostPort is s's listen address.
func hostPort(s *service.Service) string { return strings.TrimPrefix(s.URL(), "http://") }

// do sends a request and returns the answer with its body read.
func do(t *testing.T, method, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// checkProblem fails the test unless the answer is an RFC 9457 problem with
// the given status and a detail.
func checkProblem(t *testing.T, what string, code int, h http.Header, body []byte, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("%s: status %d, want %d: %s", what, code, want, body)
	}
	if ct, _, _ := mime.ParseMediaType(h.Get("Content-Type")); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, h.Get("Content-Type"))
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%s: problem is not JSON: %v: %s", what, err, body)
	}
	if p.Status != want || p.Detail == "" {
		t.Errorf("%s: problem %s, want status %d and a detail", what, body, want)
	}
}

func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	s := startService(t)
	began := time.Now()
	conn, err := net.Dial("tcp", hostPort(s))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half a request: the blank line that ends the headers never comes.
	if _, err := io.WriteString(conn, "GET /livez HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// The blocking read is the wait: it ends when the server hangs up, or at
	// this deadline if it never does.
	if err := conn.SetReadDeadline(began.Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(make([]byte, 1024))
	took := time.Since(began)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server kept a connection with unfinished headers open for %s", took.Round(time.Millisecond))
	case err == nil:
		t.Fatalf("the server answered unfinished headers with %d bytes instead of hanging up", n)
	}
	// io.EOF, or a reset if the kernel saw it that way: either is a hang-up.
	if took < 4*time.Second {
		t.Errorf("the server hung up after %s (%v), before its 5s ReadHeaderTimeout", took.Round(time.Millisecond), err)
	}
	t.Logf("server hung up after %s: %v", took.Round(time.Millisecond), err)
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	t.Parallel()
	s := startService(t)
	// 24 KiB of headers is within the 32 KiB limit.
	resp, body := do(t, http.MethodGet, s.URL()+"/livez", http.Header{"X-Padding": {strings.Repeat("a", 24<<10)}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("24 KiB of headers: status %d, want 200: %s", resp.StatusCode, body)
	}

	// 80 KiB is over the limit, and answered as a problem, not by
	// net/http's plain text (its own limit is 1 MiB).
	// Sent raw, so that how the client treats a refusal mid-request does not
	// matter: the whole request is written before the answer is read.
	conn, err := net.Dial("tcp", hostPort(s))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := "GET /livez HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("a", 80<<10) + "\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	big, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("80 KiB of headers: no answer: %v", err)
	}
	big.Body.Close()
	if big.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("80 KiB of headers: status %d, want 431", big.StatusCode)
	}
	if ct := big.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("80 KiB of headers: Content-Type %q, want application/problem+json", ct)
	}
}

func TestLivezAndReadyz(t *testing.T) {
	t.Parallel()
	s := startService(t)
	for _, path := range []string{"/livez", "/readyz"} {
		resp, body := do(t, http.MethodGet, s.URL()+path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s while running: status %d, want 200: %s", path, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q, want application/json", path, ct)
		}
	}

	// Once Stop has begun the server no longer listens, so the routes are
	// asked directly: a load balancer that still reaches the service must
	// see it not ready, while it is still alive.
	stopService(t, s)
	h := httptest.NewRecorder()
	s.Mux.ServeHTTP(h, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	checkProblem(t, "GET /readyz after Stop", h.Code, h.Header(), h.Body.Bytes(), http.StatusServiceUnavailable)
	h = httptest.NewRecorder()
	s.Mux.ServeHTTP(h, httptest.NewRequest(http.MethodGet, "/livez", nil))
	if h.Code != http.StatusOK {
		t.Errorf("GET /livez after Stop: status %d, want 200", h.Code)
	}
}

func TestReadyzIsUnavailableBeforeStart(t *testing.T) {
	s := service.New("t", slog.New(slog.DiscardHandler))
	h := httptest.NewRecorder()
	s.Mux.ServeHTTP(h, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	checkProblem(t, "GET /readyz before Start", h.Code, h.Header(), h.Body.Bytes(), http.StatusServiceUnavailable)
}

func TestUnknownRouteAndWrongMethodAreProblems(t *testing.T) {
	t.Parallel()
	s := startService(t)

	resp, body := do(t, http.MethodGet, s.URL()+"/nope", nil)
	checkProblem(t, "GET /nope", resp.StatusCode, resp.Header, body, http.StatusNotFound)

	resp, body = do(t, http.MethodDelete, s.URL()+"/livez", nil)
	checkProblem(t, "DELETE /livez", resp.StatusCode, resp.Header, body, http.StatusMethodNotAllowed)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, http.MethodGet) {
		t.Errorf("DELETE /livez: Allow %q, want it to name GET", allow)
	}
}

func TestPprofIsServedOnlyWhenAskedFor(t *testing.T) {
	for _, on := range []bool{false, true} {
		ctx := context.Background()
		s := service.New("t", slog.New(slog.DiscardHandler))
		db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		s.DB, s.Addr, s.Pprof = db, "127.0.0.1:0", on
		if err := s.Start(ctx, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(s.URL() + "/debug/pprof/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[on]; resp.StatusCode != want {
			t.Errorf("Pprof=%v: /debug/pprof/cmdline answered %d, want %d", on, resp.StatusCode, want)
		}
		s.Stop(ctx)
	}
}
