package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUpServesTheDashboardFirstInTheBanner: herald up serves the dashboard
// on --dashboard-addr and prints it first; its topology lists every
// service of the catalogue, up; stopping a service through it needs the
// operator token and shows the service stopped while the query runs on.
func TestUpServesTheDashboardFirstInTheBanner(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: &out}
	if err := m.Up(context.Background(), upCmd{serviceFlags: testFlags(dir), Targets: []string{"shop"}, DashboardAddr: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	defer closeMain(t, m)
	if first, _, _ := strings.Cut(out.String(), "\n"); first != "herald is up: dashboard at "+m.dashboardURL {
		t.Fatalf("the banner starts %q, want the dashboard's URL %s first", first, m.dashboardURL)
	}
	status, b, _ := call(http.MethodGet, m.dashboardURL, nil)
	if status != http.StatusOK || !strings.Contains(string(b), "<html") {
		t.Fatalf("GET /: %d %.200s", status, b)
	}
	topology := func() map[string]bool {
		t.Helper()
		status, b, _ := call(http.MethodGet, m.dashboardURL+"api/topology", nil)
		var top struct {
			Apps []struct {
				Services []struct {
					Name    string
					Up      bool
					Running bool
				}
			}
		}
		if err := json.Unmarshal(b, &top); status != http.StatusOK || err != nil {
			t.Fatalf("GET /api/topology: %d %s (%v)", status, b, err)
		}
		up := map[string]bool{}
		for _, a := range top.Apps {
			for _, s := range a.Services {
				up[s.Name] = s.Up && s.Running
			}
		}
		return up
	}
	if up := topology(); !up["users"] || !up["products"] || !up["orders"] || !up["query"] {
		t.Fatalf("topology: %v, want the shop's four services up", up)
	}
	if status, b, _ := callAs("", http.MethodPost, m.dashboardURL+"api/services/products/stop", nil); status != http.StatusUnauthorized {
		t.Fatalf("stopping products without the operator token: %d %s, want 401", status, b)
	}
	if status, b, _ := callAs(operatorToken(t, dir), http.MethodPost, m.dashboardURL+"api/services/products/stop", nil); status != http.StatusOK {
		t.Fatalf("stopping products as the operator: %d %s", status, b)
	}
	eventually(t, 10*time.Second, "the topology shows products stopped and query up", func() (bool, string) {
		up := topology()
		return !up["products"] && up["query"], fmt.Sprint(up)
	})
}
