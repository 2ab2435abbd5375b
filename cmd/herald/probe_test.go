package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
)

// TestProbeSaysWhetherAServiceIsReadyAndJetStreamAnswers: a 200 passes and
// anything else fails saying what it got; a NATS server passes only if its
// JetStream answers.
func TestProbeSaysWhetherAServiceIsReadyAndJetStreamAnswers(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	js, err := jetstream.StartServer(jetstream.ServerConfig{Dir: filepath.Join(t.TempDir(), "js"), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer js.Shutdown()
	m := &Main{}
	probe := func(url string) error {
		return m.Probe(context.Background(), probeCmd{URL: url, Timeout: 2 * time.Second})
	}
	if err := probe(srv.URL + "/readyz"); err != nil {
		t.Errorf("ready service: %v", err)
	}
	ready.Store(false)
	if err := probe(srv.URL + "/readyz"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unready service: %v, want an error naming the 503", err)
	}
	if err := probe(js.ClientURL()); err != nil {
		t.Errorf("JetStream server: %v", err)
	}
	if err := probe("nats://127.0.0.1:1"); err == nil {
		t.Error("closed port passed")
	}
	if err := probe("tcp://x"); err == nil || !strings.Contains(err.Error(), "want an http") {
		t.Errorf("unknown scheme: %v", err)
	}
}
