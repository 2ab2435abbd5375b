package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Figures are one round's measurements, by name; the unit is in the name
// (req_per_s, p99_ms, peak_rss_mb, ok_share).
type Figures map[string]float64

// Results is everything one run of herald bench measured, as written to
// results.json.
type Results struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Scenarios []ScenarioResult `json:"scenarios"`
}

// Settings are the options a run used.
type Settings struct {
	Rounds        int      `json:"rounds"`
	RoundSeconds  float64  `json:"roundSeconds"`
	Quick         bool     `json:"quick"`
	Connections   int      `json:"connections"`
	Users         int      `json:"users"`
	OrdersPerUser int      `json:"ordersPerUser"`
	Products      int      `json:"products"`
	RebuildEvents int      `json:"rebuildEvents"`
	RebuildLimit  float64  `json:"rebuildLimitSeconds"`
	LagRate       float64  `json:"lagRatePerSecond"`
	LagSeconds    float64  `json:"lagSeconds"`
	ScaleUsers    []int    `json:"scaleUsers"`
	ScaleEvents   []int    `json:"scaleEvents"`
	Scenarios     []string `json:"scenarios"`
}

// ScenarioResult is one scenario's outcome: one or more comparisons of
// Herald against its anchor.
type ScenarioResult struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Comparisons []*Comparison `json:"comparisons"`
	Notes       []string      `json:"notes,omitempty"`
	Profiles    []string      `json:"profiles,omitempty"` // CPU profiles, relative to the results folder
	Seconds     float64       `json:"seconds"`
	Error       string        `json:"error,omitempty"`
}

// Comparison is Herald against an anchor on one question, round by round.
type Comparison struct {
	Name    string   `json:"name"`
	Herald  Side     `json:"herald"`
	Anchor  Side     `json:"anchor"`
	Show    []string `json:"show"`              // the figures the table shows, first the one the chart shows
	Ratios  Figures  `json:"ratios,omitempty"`  // Herald's median / the anchor's, per figure of Show both sides have
	Targets []Target `json:"targets,omitempty"` // judged on the medians
}

// Side is one side of a comparison: what ran and its figures per round.
type Side struct {
	What   string    `json:"what"`
	Rounds []Figures `json:"rounds"`
	Median Figures   `json:"median"`
}

// Target is one goal of a comparison: Herald's median figure Key, or its
// ratio to the anchor's if Ratio, compared by Op (">=" or "<=") to Value.
type Target struct {
	Text     string  `json:"text"`
	Key      string  `json:"key"`
	Ratio    bool    `json:"ratio"`
	Op       string  `json:"op"`
	Value    float64 `json:"value"`
	Measured float64 `json:"measured"`
	Pass     bool    `json:"pass"`
}

// finish computes the medians, ratios and target outcomes from the rounds.
func (c *Comparison) finish() {
	c.Herald.Median = medians(c.Herald.Rounds)
	c.Anchor.Median = medians(c.Anchor.Rounds)
	c.Ratios = Figures{}
	for _, k := range c.Show {
		h, hok := c.Herald.Median[k]
		a, aok := c.Anchor.Median[k]
		if hok && aok && a != 0 && !math.IsNaN(h/a) && !math.IsInf(h/a, 0) {
			c.Ratios[k] = h / a
		}
	}
	for i := range c.Targets {
		t := &c.Targets[i]
		v, ok := c.Herald.Median[t.Key]
		if t.Ratio {
			v, ok = c.Ratios[t.Key]
		}
		t.Measured = v
		switch {
		case !ok:
			t.Pass = false
		case t.Op == "<=":
			t.Pass = v <= t.Value
		default:
			t.Pass = v >= t.Value
		}
	}
}

func medians(rounds []Figures) Figures {
	if len(rounds) == 0 {
		return Figures{}
	}
	keys := map[string][]float64{}
	for _, r := range rounds {
		for k, v := range r {
			keys[k] = append(keys[k], v)
		}
	}
	m := Figures{}
	for k, vs := range keys {
		m[k] = Median(vs)
	}
	return m
}

// WriteJSON writes r to path, indented.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// units names each figure for the table.
var units = map[string]string{
	"req_per_s":       "requests/s",
	"per_s":           "rate /s",
	"accepted_per_s":  "accepted /s",
	"events":          "events",
	"seconds":         "seconds",
	"wall_s":          "process wall seconds",
	"rebuild_per_s":   "rebuild rate /s",
	"p50_ms":          "p50 latency ms",
	"p99_ms":          "p99 latency ms",
	"max_ms":          "max latency ms",
	"lag_p50_ms":      "lag p50 ms",
	"lag_p99_ms":      "lag p99 ms",
	"lag_max_ms":      "lag max ms",
	"bus_lag_p50_ms":  "lag to the bus p50 ms",
	"bus_lag_p99_ms":  "lag to the bus p99 ms",
	"view_lag_p50_ms": "lag bus to view p50 ms",
	"view_lag_p99_ms": "lag bus to view p99 ms",
	"ok_share":        "answered 200 correctly",
	"peak_rss_mb":     "peak RSS MB",
	"users":           "users",
	// CPU time per event, user and system, from /proc (Linux only).
	"cpu_us_per_event": "CPU µs/event (request), all",
	"cpu_us_server":    "  of which the server",
	"cpu_us_bench":     "  of which bench (load, clients)",
	"cpu_us_bus":       "  of which bus",
	"cpu_us_orders":    "  of which orders",
	"cpu_us_query":     "  of which query",
	"cpu_cores":        "CPU cores busy (CPU s ÷ s)",
}

func unit(k string) string {
	if u, ok := units[k]; ok {
		return u
	}
	return k
}

// WriteTable writes r as a text table: one line per figure shown, with
// both sides' medians, their ratio and the target on it.
func (r *Results) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tCOMPARISON\tFIGURE\tHERALD\tANCHOR\tRATIO\tTARGET\tRESULT")
	for _, s := range r.Scenarios {
		if s.Error != "" {
			fmt.Fprintf(tw, "%s\t\t\t\t\t\t\tERROR: %s\n", s.Name, truncate(firstLine(s.Error), 80))
			continue
		}
		for _, c := range s.Comparisons {
			for _, k := range c.Show {
				h, hok := c.Herald.Median[k]
				a, aok := c.Anchor.Median[k]
				ratio := "-"
				if v, ok := c.Ratios[k]; ok {
					ratio = fmt.Sprintf("%.2fx", v)
				}
				target, result := "", ""
				for _, t := range c.Targets {
					if t.Key != k {
						continue
					}
					target = targetText(t)
					result = "FAIL"
					if t.Pass {
						result = "pass"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, c.Name, unit(k),
					figure(k, h, hok), figure(k, a, aok), ratio, target, result)
			}
		}
	}
	return tw.Flush()
}

func targetText(t Target) string {
	op := map[string]string{">=": "≥", "<=": "≤"}[t.Op]
	if t.Ratio {
		return fmt.Sprintf("%s %gx", op, t.Value)
	}
	if strings.HasSuffix(t.Key, "share") {
		return fmt.Sprintf("%s %g%%", op, t.Value*100)
	}
	if t.Value >= 1000 {
		return op + " " + thousands(t.Value)
	}
	return fmt.Sprintf("%s %g", op, t.Value)
}

func figure(k string, v float64, ok bool) string {
	switch {
	case !ok:
		return "-"
	case strings.HasSuffix(k, "share"):
		return fmt.Sprintf("%.1f%%", v*100)
	case strings.HasPrefix(k, "cpu_us_"):
		return fmt.Sprintf("%.1f", v)
	case k == "cpu_cores":
		return fmt.Sprintf("%.2f", v)
	case strings.HasSuffix(k, "_ms"):
		if v < 10 {
			return fmt.Sprintf("%.2f", v)
		}
		return fmt.Sprintf("%.1f", v)
	default:
		return thousands(v)
	}
}

// thousands formats v rounded, with comma separators.
func thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
