package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bench"
)

// TestBenchQuickRunsEveryScenario runs herald bench --quick end to end,
// with this test binary as herald for every child process, and checks that
// every scenario measured both Herald and its anchor and that the JSON and
// the chart are written and well formed.
func TestBenchQuickRunsEveryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark scenario for a few seconds each")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: &stdout}
	// Under -race on 2 shared cores it has taken 2-3 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start := time.Now()
	err := m.runBench(ctx, benchCmd{Quick: true, Out: out}, []string{"HERALD_TEST_RUN_MAIN=1", "GORACE=atexit_sleep_ms=0"}, &stderr)
	t.Logf("herald bench --quick took %s; progress:\n%s", time.Since(start).Round(time.Millisecond), stderr.String())
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s", err, stderr.String())
	}

	raw, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	var names []string
	for _, s := range res.Scenarios {
		names = append(names, s.Name)
		if s.Error != "" {
			t.Errorf("%s failed: %s", s.Name, s.Error)
			continue
		}
		if len(s.Comparisons) == 0 {
			t.Errorf("%s has no comparison", s.Name)
		}
		for _, c := range s.Comparisons {
			if len(c.Herald.Rounds) != res.Settings.Rounds || len(c.Anchor.Rounds) != res.Settings.Rounds {
				t.Errorf("%s / %s: %d Herald and %d anchor rounds, want %d each", s.Name, c.Name, len(c.Herald.Rounds), len(c.Anchor.Rounds), res.Settings.Rounds)
			}
			if len(c.Herald.Median) == 0 || len(c.Anchor.Median) == 0 {
				t.Errorf("%s / %s: no medians: %+v %+v", s.Name, c.Name, c.Herald.Median, c.Anchor.Median)
			}
			if _, ok := c.Herald.Median[c.Show[0]]; !ok {
				t.Errorf("%s / %s: Herald has no %s", s.Name, c.Name, c.Show[0])
			}
		}
	}
	if !slices.Equal(names, bench.ScenarioNames()) {
		t.Errorf("scenarios %v, want %v", names, bench.ScenarioNames())
	}
	if res.Machine.CPUs == 0 || res.Machine.GoVersion == "" {
		t.Errorf("machine not described: %+v", res.Machine)
	}

	svg, err := os.ReadFile(filepath.Join(out, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("chart.svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("chart.svg's root element is <%s>, want <svg>", root)
	}
	for _, name := range bench.ScenarioNames() {
		if !strings.Contains(string(svg), ">"+name+"<") {
			t.Errorf("chart.svg has no group for %s", name)
		}
		if !strings.Contains(stdout.String(), name) {
			t.Errorf("the table has no row for %s:\n%s", name, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "round 1/1") {
		t.Errorf("no progress shown:\n%s", stderr.String())
	}
	logs, _ := os.ReadDir(filepath.Join(out, "logs"))
	if len(logs) == 0 {
		t.Error("no child process logs kept")
	}
}
