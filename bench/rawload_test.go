package bench

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// rawTestServer answers /right "right", /wrong "wrong", /chunked "right"
// in chunks, /missing 404, and closes the connection without an answer
// on /close. It counts the connections it accepted.
func rawTestServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/right":
			w.Write([]byte("right"))
		case "/wrong":
			w.Write([]byte("wrong"))
		case "/chunked":
			w.Write([]byte("ri"))
			w.(http.Flusher).Flush() // no Content-Length: chunks
			w.Write([]byte("ght"))
		case "/close":
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// paths cycles through ps, one request after another.
func paths(ps ...string) Get {
	var n atomic.Int64
	return func(*rand.Rand) (string, func(int, []byte) Outcome) {
		return ps[(n.Add(1)-1)%int64(len(ps))], func(status int, body []byte) Outcome {
			switch {
			case status != http.StatusOK:
				return Failed
			case string(body) != "right":
				return Wrong
			}
			return OK
		}
	}
}

func TestRawLoadCountsRightAnswersWrongBodiesAndFailuresApart(t *testing.T) {
	srv, conns := rawTestServer(t)
	var done atomic.Int64
	res := Load{Conns: 4, Count: 400, Done: &done,
		Raw: &RawGets{URL: srv.URL, Header: bearerHeader("t"), Get: paths("/right", "/chunked", "/wrong", "/missing")}}.Run(context.Background())
	if res.Requests != 400 || res.OK != 200 || res.Wrong != 100 || res.Failed != 100 {
		t.Errorf("requests %d, ok %d, wrong %d, failed %d; want 400, 200, 100, 100 (first error %q)", res.Requests, res.OK, res.Wrong, res.Failed, res.FirstError)
	}
	if len(res.Latencies) != 200 || done.Load() != 400 {
		t.Errorf("%d latencies and %d counted done, want 200 and 400", len(res.Latencies), done.Load())
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("the server accepted %d connections, want 4: one per worker, kept alive", n)
	}
}

func TestRawLoadReconnectsAfterTheServerClosesAConnection(t *testing.T) {
	srv, conns := rawTestServer(t)
	res := Load{Conns: 1, Count: 30, Raw: &RawGets{URL: srv.URL, Header: bearerHeader("t"), Get: paths("/right", "/close", "/right")}}.Run(context.Background())
	if res.OK != 20 || res.Failed != 10 || res.Wrong != 0 {
		t.Errorf("ok %d, failed %d, wrong %d; want 20, 10, 0 (first error %q)", res.OK, res.Failed, res.Wrong, res.FirstError)
	}
	if n := conns.Load(); n != 11 {
		t.Errorf("the server accepted %d connections, want 11: the first, and a new one after each it closed", n)
	}
}

func TestRawLoadFailsEveryRequestToAServerThatIsNotThere(t *testing.T) {
	srv, _ := rawTestServer(t)
	url := srv.URL
	srv.Close()
	res := Load{Conns: 2, Count: 10, Raw: &RawGets{URL: url, Get: paths("/right")}}.Run(context.Background())
	if res.Failed != 10 || res.FirstError == "" {
		t.Errorf("failed %d (first error %q), want 10", res.Failed, res.FirstError)
	}
}

func TestRawLoadAtAFixedRateKeepsItsSchedule(t *testing.T) {
	srv, _ := rawTestServer(t)
	res := Load{Conns: 8, Rate: 200, Duration: 500 * time.Millisecond,
		Raw: &RawGets{URL: srv.URL, Header: bearerHeader("t"), Get: paths("/right")}}.Run(context.Background())
	if res.OK < 90 || res.OK > 101 || res.Failed+res.Wrong > 0 {
		t.Errorf("%d right, %d failed, %d wrong at 200/s in 0.5s, want about 100 right", res.OK, res.Failed, res.Wrong)
	}
}

// A raw load of POSTs sends each body with its Content-Length and the
// load's headers, on kept-alive connections, and judges the answers.
func TestRawLoadPostsBodiesOnKeptAliveConnections(t *testing.T) {
	var conns, posts atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(body)) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		posts.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(append([]byte("got "), body...))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	res := Load{Conns: 4, Count: 200, Raw: &RawGets{URL: srv.URL, Header: h, Post: func(rnd *rand.Rand) (string, []byte, func(int, []byte) Outcome) {
		body := []byte(`{"n":` + strconv.Itoa(rnd.IntN(1000)) + `}`)
		return "/orders", body, func(status int, answer []byte) Outcome {
			if status == http.StatusCreated && string(answer) == "got "+string(body) {
				return OK
			}
			return Wrong
		}
	}}}.Run(context.Background())
	if res.OK != 200 || res.Wrong+res.Failed != 0 || posts.Load() != 200 {
		t.Fatalf("ok %d wrong %d failed %d (first: %s), server saw %d posts; want 200 right", res.OK, res.Wrong, res.Failed, res.FirstError, posts.Load())
	}
	if n := conns.Load(); n != 4 {
		t.Errorf("%d connections for 4 workers: the load did not keep them alive", n)
	}
}
