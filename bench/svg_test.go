package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// sampleResults has a passed and a missed ratio target, a target on
// Herald's own figure, a comparison without target, and a failed scenario
// whose error needs escaping.
func sampleResults() *Results {
	read := &Comparison{
		Name: "http read", Show: []string{"req_per_s", "p99_ms"},
		Herald: Side{What: "herald", Rounds: []Figures{{"req_per_s": 900, "p99_ms": 3}, {"req_per_s": 1000, "p99_ms": 2}, {"req_per_s": 800, "p99_ms": 4}}},
		Anchor: Side{What: "fixed", Rounds: []Figures{{"req_per_s": 1000, "p99_ms": 2}, {"req_per_s": 1000, "p99_ms": 2}, {"req_per_s": 1000, "p99_ms": 2}}},
		Targets: []Target{
			{Key: "req_per_s", Ratio: true, Op: ">=", Value: 0.75},
			{Key: "p99_ms", Ratio: true, Op: "<=", Value: 1.2},
		},
	}
	lag := &Comparison{
		Name: "1000 orders/s", Show: []string{"lag_p99_ms"},
		Herald:  Side{Rounds: []Figures{{"lag_p99_ms": 4}}},
		Anchor:  Side{Rounds: []Figures{{"lag_p99_ms": 1}}},
		Targets: []Target{{Key: "lag_p99_ms", Op: "<=", Value: 10}},
	}
	ingress := &Comparison{
		Name: "events/s", Show: []string{"per_s"},
		Herald: Side{Rounds: []Figures{{"per_s": 20000}}},
		Anchor: Side{Rounds: []Figures{{"per_s": 100}}}, // 200x: off the axis
	}
	for _, c := range []*Comparison{read, lag, ingress} {
		c.finish()
	}
	return &Results{
		Started:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Machine:  Machine{CPUs: 2, CPUModel: "Test <CPU> & co", GoVersion: "go1.26"},
		Settings: Settings{Rounds: 3},
		Scenarios: []ScenarioResult{
			{Name: "read", Comparisons: []*Comparison{read}},
			{Name: "lag", Comparisons: []*Comparison{lag}},
			{Name: "ingress", Comparisons: []*Comparison{ingress}},
			{Name: "rebuild", Error: "replica <1> exited & left\nmore lines"},
		},
	}
}

func TestComparisonTakesMediansRatiosAndTargets(t *testing.T) {
	r := sampleResults()
	read := r.Scenarios[0].Comparisons[0]
	if read.Herald.Median["req_per_s"] != 900 || read.Herald.Median["p99_ms"] != 3 {
		t.Errorf("Herald medians = %v, want req_per_s 900, p99_ms 3", read.Herald.Median)
	}
	if read.Ratios["req_per_s"] != 0.9 || read.Ratios["p99_ms"] != 1.5 {
		t.Errorf("ratios = %v, want 0.9 and 1.5", read.Ratios)
	}
	if !read.Targets[0].Pass || read.Targets[0].Measured != 0.9 {
		t.Errorf("throughput target = %+v, want passed at 0.9", read.Targets[0])
	}
	if read.Targets[1].Pass {
		t.Errorf("p99 target = %+v, want missed (1.5 > 1.2)", read.Targets[1])
	}
	lag := r.Scenarios[1].Comparisons[0]
	if !lag.Targets[0].Pass || lag.Targets[0].Measured != 4 {
		t.Errorf("lag target = %+v, want passed at 4", lag.Targets[0])
	}
	c := &Comparison{Show: []string{"ok_share"}, Herald: Side{Rounds: []Figures{{"ok_share": 1}}}, Anchor: Side{Rounds: []Figures{{"ok_share": 0}}}}
	c.finish()
	if _, ok := c.Ratios["ok_share"]; ok {
		t.Errorf("a ratio to an anchor at 0 was taken: %v", c.Ratios)
	}
}

func TestSVGIsWellFormedAndShowsEveryRatio(t *testing.T) {
	svg := sampleResults().SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var root string
	counts := map[string]int{}
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			counts[tok.Name.Local]++
		case xml.CharData:
			texts = append(texts, string(tok))
		}
	}
	if root != "svg" {
		t.Fatalf("root element <%s>, want <svg>", root)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{
		"read", "lag", "ingress", "rebuild",
		"0.90x (target ≥ 0.75x)", "1.50x (target ≤ 1.2x)", // ratio bars with their targets
		"200.00x",                    // a ratio without target, clamped on the axis but labelled
		"✓ Herald 4.00, target ≤ 10", // a target on Herald's own figure
		"replica <1> exited & left",  // escaped, first line only
		"Test <CPU> & co",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("chart lacks %q; its texts: %s", want, all)
		}
	}
	if strings.Contains(all, "more lines") {
		t.Error("chart shows more than an error's first line")
	}
	// The background and four bars: read's two ratio targets, and the
	// plain ratios of lag (its target is on Herald's own figure) and ingress.
	if counts["rect"] != 5 {
		t.Errorf("%d rects, want 5 (background and 4 bars)", counts["rect"])
	}
	if !bytes.Contains(svg, []byte(`fill="#2e7d32"`)) || !bytes.Contains(svg, []byte(`fill="#c62828"`)) {
		t.Error("chart lacks a green (met) or red (missed) bar")
	}
}

func TestTableShowsEveryFigureWithItsTarget(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResults().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"requests/s", "900", "1,000", "0.90x", "≥ 0.75x", "pass", "≤ 1.2x", "FAIL", "lag p99 ms", "ERROR: replica <1>"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
