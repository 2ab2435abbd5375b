package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAlternateSharedRunsTheAnchorThenEachVariantOnTheSameAnchorRounds(t *testing.T) {
	e := &env{sz: sizes{Rounds: 2}, p: newProgress(io.Discard), res: &ScenarioResult{}}
	var order []string
	mk := func(name string, rate float64) side {
		return side{what: name,
			warm: func(context.Context) error { order = append(order, "warm "+name); return nil },
			run: func(_ context.Context, round int) (Figures, error) {
				order = append(order, fmt.Sprintf("%s%d", name, round))
				return Figures{"req_per_s": rate * float64(round)}, nil
			}}
	}
	idle := &Comparison{Name: "idle", Show: []string{"req_per_s"}}
	open := &Comparison{Name: "open", Show: []string{"req_per_s"}}
	if err := e.alternateShared(context.Background(), mk("A", 100), versus{idle, mk("I", 100)}, versus{open, mk("O", 50)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"warm A", "warm I", "warm O", "A1", "I1", "O1", "A2", "I2", "O2"}
	if !slices.Equal(order, want) {
		t.Errorf("ran %v, want %v", order, want)
	}
	for _, c := range []*Comparison{idle, open} {
		if c.Anchor.What != "A" || len(c.Anchor.Rounds) != 2 || c.Anchor.Rounds[1]["req_per_s"] != 200 {
			t.Errorf("%s's anchor: %+v, want A's two rounds", c.Name, c.Anchor)
		}
	}
	if idle.Herald.What != "I" || idle.Ratios["req_per_s"] != 1 || open.Herald.What != "O" || open.Ratios["req_per_s"] != 0.5 {
		t.Errorf("idle %s %v, open %s %v; want I 1x, O 0.5x", idle.Herald.What, idle.Ratios, open.Herald.What, open.Ratios)
	}
	if len(e.res.Comparisons) != 2 || e.res.Comparisons[0] != idle || e.res.Comparisons[1] != open {
		t.Errorf("the scenario's comparisons: %v, want idle and open", e.res.Comparisons)
	}

	// alternate, as every other scenario uses it, still runs Herald first.
	order = nil
	if err := e.alternate(context.Background(), &Comparison{Show: []string{"req_per_s"}}, mk("H", 1), mk("A", 1)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"warm H", "warm A", "H1", "A1", "H2", "A2"}; !slices.Equal(order, want) {
		t.Errorf("alternate ran %v, want %v", order, want)
	}
}

func TestDashboardLineGivesTheDashboardsURL(t *testing.T) {
	m := dashboardLine.FindStringSubmatch("dashboard at http://127.0.0.1:43869/ for the bus at nats://127.0.0.1:4223")
	if m == nil || m[1] != "http://127.0.0.1:43869" {
		t.Fatalf("matched %q, want http://127.0.0.1:43869", m)
	}
	if dashboardLine.MatchString("herald is up: dashboard at http://127.0.0.1:8080/") {
		t.Error("herald up's banner taken for herald dashboard's")
	}
}

func TestTopologyCheckSaysWhyTheQueryIsNotUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		up     bool
		err    string
	}{
		{"up", 200, `{"apps":[{"services":[{"name":"users","up":false,"error":"refused"},{"name":"query","up":true}]}]}`, true, ""},
		{"down", 200, `{"apps":[{"services":[{"name":"query","up":false,"error":"ask query: 401 Unauthorized"}]}]}`, false, "401"},
		{"missing", 200, `{"apps":[{"services":[{"name":"users","up":true}]}]}`, false, "lists no query"},
		{"failing", 500, `{"detail":"broken"}`, false, "500"},
		{"not JSON", 200, `<html>`, false, "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/topology" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			up, err := topologyHasUp(context.Background(), srv.URL, "query")
			if up != tc.up || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("up %v, err %v; want %v and an error with %q", up, err, tc.up, tc.err)
			}
		})
	}
}

func TestLiveClientCountsTopologyEventsUntilClosed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/live" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for range 3 {
			fmt.Fprintf(w, "event: topology\ndata: {\"apps\":[]}\n\n")
		}
		fmt.Fprintf(w, ": a comment\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the stream stays open until the client leaves
	}))
	defer srv.Close()
	c, err := openLive(context.Background(), srv.URL+"/api/live")
	if err != nil {
		t.Fatal(err)
	}
	err = poll(context.Background(), 10*time.Second, 10*time.Millisecond, "three topology events", func() (bool, error) {
		return c.events.Load() == 3, nil
	})
	if err != nil {
		t.Fatalf("%v: %d", err, c.events.Load())
	}
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while the stream stayed open")
	}

	if _, err := openLive(context.Background(), srv.URL+"/nowhere"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404 opened as a live stream: %v", err)
	}
}
