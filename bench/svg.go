package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Chart layout, in SVG user units.
const (
	chartWidth  = 1120
	labelWidth  = 340
	plotLeft    = labelWidth + 10
	plotWidth   = 560
	rowHeight   = 24
	headHeight  = 26
	chartTop    = 60
	chartBottom = 40
	chartMinX   = 0.01 // the axis runs from 0.01x to 100x, log scale
	chartMaxX   = 100.0
)

// chartRow is one line of the chart: a ratio bar (with its target line, if
// the target is on that ratio) or, for a target on Herald's own figure, a
// line of text.
type chartRow struct {
	label  string
	ratio  float64 // bar length, log scale from 1x; 0 for a text row
	target *Target
	text   string
}

// SVG renders the results as a chart: one group per scenario, one bar per
// ratio of Herald to its anchor, drawn from parity (1x) on a log scale,
// green where its target is met, red where missed, grey without a target;
// a dashed line marks the target. Targets on Herald's own figures (a
// latency, a memory peak) are listed under their group as text.
func (r *Results) SVG() []byte {
	type group struct {
		name string
		rows []chartRow
	}
	var groups []group
	for _, s := range r.Scenarios {
		g := group{name: s.Name}
		if s.Error != "" {
			g.rows = append(g.rows, chartRow{label: "error", text: truncate(firstLine(s.Error), 90)})
		}
		for _, c := range s.Comparisons {
			// A bar per ratio target; without one, a grey bar of the
			// ratio of the figure a target is on, or else of the first
			// figure shown.
			key := ""
			if len(c.Show) > 0 {
				key = c.Show[0]
			}
			shown := false
			for i := range c.Targets {
				t := &c.Targets[i]
				if t.Ratio {
					g.rows = append(g.rows, chartRow{label: c.Name + " · " + unit(t.Key), ratio: c.Ratios[t.Key], target: t})
					shown = true
				} else if !shown {
					key = t.Key
				}
			}
			if !shown && key != "" {
				if v, ok := c.Ratios[key]; ok {
					g.rows = append(g.rows, chartRow{label: c.Name + " · " + unit(key), ratio: v})
				}
			}
			for i := range c.Targets {
				t := &c.Targets[i]
				if !t.Ratio {
					mark := "✗"
					if t.Pass {
						mark = "✓"
					}
					g.rows = append(g.rows, chartRow{label: c.Name + " · " + unit(t.Key), target: t,
						text: fmt.Sprintf("%s Herald %s, target %s", mark, figure(t.Key, t.Measured, true), targetText(*t))})
				}
			}
		}
		groups = append(groups, g)
	}
	height := chartTop + chartBottom
	for _, g := range groups {
		height += headHeight + rowHeight*len(g.rows)
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		chartWidth, height, chartWidth, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="17" font-weight="bold">%s</text>`+"\n", 12,
		esc("herald bench: Herald ÷ anchor, median of "+fmt.Sprint(r.Settings.Rounds)+" rounds each"))
	fmt.Fprintf(&b, `<text x="%d" y="44" fill="#555555">%s</text>`+"\n", 12,
		esc(fmt.Sprintf("%s, %d CPUs, %s, %s", r.Machine.CPUModel, r.Machine.CPUs, r.Machine.GoVersion, r.Started.UTC().Format("2006-01-02 15:04 UTC"))))
	// Axis: grid lines at each decade, parity in bold.
	plotTop, plotBottom := chartTop, height-chartBottom
	for _, v := range []float64{0.01, 0.1, 1, 10, 100} {
		x := xOf(v)
		w, col := "1", "#dddddd"
		if v == 1 {
			w, col = "1.5", "#888888"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>`+"\n", x, plotTop, x, plotBottom, col, w)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555">%sx</text>`+"\n", x, plotBottom+16, esc(fmt.Sprint(v)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555555" font-size="11">%s</text>`+"\n",
		float64(plotLeft+plotWidth/2), plotBottom+32, esc("Herald ÷ anchor, log scale (for a rate higher is better, for a latency lower is better)"))

	y := chartTop
	for _, g := range groups {
		fmt.Fprintf(&b, `<text x="12" y="%d" font-weight="bold">%s</text>`+"\n", y+18, esc(g.name))
		y += headHeight
		for _, row := range g.rows {
			mid := y + rowHeight/2
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#333333">%s</text>`+"\n", labelWidth, mid+4, esc(row.label))
			if row.text != "" {
				col := "#333333"
				if row.target != nil {
					col = passColour(row.target.Pass)
				}
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", plotLeft, mid+4, col, esc(row.text))
				y += rowHeight
				continue
			}
			col := "#9e9e9e"
			if row.target != nil {
				col = passColour(row.target.Pass)
			}
			x0, x1 := xOf(1), xOf(row.ratio)
			left, width := math.Min(x0, x1), math.Abs(x1-x0)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", left, y+4, math.Max(width, 1), rowHeight-8, col)
			label := fmt.Sprintf("%.2fx", row.ratio)
			if row.target != nil {
				tx := xOf(row.target.Value)
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000000" stroke-width="2" stroke-dasharray="4,2"/>`+"\n", tx, y+1, tx, y+rowHeight-1)
				label += " (target " + targetText(*row.target) + ")"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333333">%s</text>`+"\n", float64(plotLeft+plotWidth+8), mid+4, esc(label))
			y += rowHeight
		}
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// xOf maps a ratio to its x coordinate on the log axis, clamped to it.
func xOf(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		v = chartMinX
	}
	v = math.Max(chartMinX, math.Min(chartMaxX, v))
	f := (math.Log10(v) - math.Log10(chartMinX)) / (math.Log10(chartMaxX) - math.Log10(chartMinX))
	return float64(plotLeft) + f*plotWidth
}

func passColour(pass bool) string {
	if pass {
		return "#2e7d32"
	}
	return "#c62828"
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// WriteSVG writes the chart to path.
func (r *Results) WriteSVG(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, r.SVG(), 0o644)
}
