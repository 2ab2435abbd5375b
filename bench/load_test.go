package bench

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLoadCountsWrongAnswersAndFailuresApart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/right":
			w.Write([]byte("right"))
		case "/wrong":
			w.Write([]byte("wrong"))
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	paths := []string{"/right", "/right", "/wrong", "/fail"}
	var n atomic.Int64
	var done atomic.Int64
	res := Load{Conns: 4, Count: 400, Done: &done, Request: func(*rand.Rand) (*http.Request, func(int, []byte) Outcome) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+paths[n.Add(1)%4], nil)
		return req, func(status int, body []byte) Outcome {
			switch {
			case status != http.StatusOK:
				return Failed
			case string(body) != "right":
				return Wrong
			}
			return OK
		}
	}}.Run(context.Background())
	if res.Requests != 400 || res.OK != 200 || res.Wrong != 100 || res.Failed != 100 {
		t.Errorf("requests %d, ok %d, wrong %d, failed %d; want 400, 200, 100, 100", res.Requests, res.OK, res.Wrong, res.Failed)
	}
	if len(res.Latencies) != 200 {
		t.Errorf("%d latencies, want one per OK request (200)", len(res.Latencies))
	}
	if done.Load() != 400 {
		t.Errorf("progress counted %d, want 400", done.Load())
	}
	f := res.Figures()
	if f["ok_share"] != 0.5 || f["errors"] != 100 || f["wrong"] != 100 || f["req_per_s"] <= 0 {
		t.Errorf("figures %v", f)
	}
	if res.FirstError == "" {
		t.Error("the first failure is not kept")
	}
}

func TestLoadAtAFixedRateKeepsItsSchedule(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	res := Load{Conns: 8, Rate: 200, Duration: 500 * time.Millisecond, Request: func(*rand.Rand) (*http.Request, func(int, []byte) Outcome) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		return req, func(int, []byte) Outcome { return OK }
	}}.Run(context.Background())
	// 200/s for 0.5s schedules 100 requests (the one at 0s included).
	if res.OK < 90 || res.OK > 101 {
		t.Errorf("%d requests at 200/s in 0.5s, want about 100", res.OK)
	}
}

func TestLoadStopsWhenItsContextEnds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	Load{Conns: 2, Duration: time.Hour, Request: func(*rand.Rand) (*http.Request, func(int, []byte) Outcome) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		return req, func(int, []byte) Outcome { return OK }
	}}.Run(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("load ran %s after its context ended", d)
	}
}

func TestRunRefusesAnUnknownScenarioBeforeStartingAnything(t *testing.T) {
	out := t.TempDir()
	_, err := Run(context.Background(), Options{Bin: "/nonexistent/herald", Out: out, Scenarios: []string{"read", "raed"}})
	if err == nil || !strings.Contains(err.Error(), `"raed"`) || !strings.Contains(err.Error(), "sync-vs-async") {
		t.Fatalf("err = %v, want one naming raed and the scenarios", err)
	}
}
