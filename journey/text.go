package journey

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldev/herald/observe"
)

// Write prints j for a person: the event, its commit and publish, each
// consumer's outcome, and the trace's spans as an indented tree.
func Write(w io.Writer, j Journey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if e := j.Event; e != nil {
		fmt.Fprintf(tw, "event\t%s\t%s\n", e.ID, e.Type)
		if e.Entity != "" {
			fmt.Fprintf(tw, "entity\t%s\t%s\n", e.Source, e.Entity)
		}
	}
	if j.TraceID != "" {
		fmt.Fprintf(tw, "trace\t%s\t\n", j.TraceID)
	}
	fmt.Fprintln(tw)
	if c := j.Committed; c != nil {
		fmt.Fprintf(tw, "committed\t%s\t%s\t\n", c.Service, clock(c.At))
	}
	if q := j.Queued; q != nil {
		fmt.Fprintf(tw, "in outbox\t%s\tsince %s\tnot published yet (is the bus reachable from %s?)\n", q.Service, clock(q.At), q.Service)
	}
	if p := j.Published; p != nil {
		fmt.Fprintf(tw, "published\t%s #%d\t%s\t%s after commit\n", p.Stream, p.Sequence, clock(p.At), dur(p.After))
	}
	for _, c := range j.Consumers {
		fmt.Fprintf(tw, "%s\t%s (%s)\t%s\t%s\n", c.Outcome, c.Service, c.Consumer, when(c), detail(c))
	}
	if j.Published != nil && len(j.Consumers) == 0 {
		fmt.Fprintln(tw, "consumers\tnone receives this subject\t\t")
	}
	if len(j.Unreachable) > 0 {
		fmt.Fprintf(tw, "unreachable\t%s\t\ttheir spans and databases are not shown\n", strings.Join(j.Unreachable, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(j.Spans) == 0 {
		_, err := fmt.Fprintln(w, "\nno spans: the trace is no longer in the span ring, or tracing is off")
		return err
	}
	fmt.Fprintf(w, "\nspans (%d)\n", len(j.Spans))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	depth := depths(j.Spans)
	start := j.Spans[0].Start
	for _, s := range j.Spans {
		outcome := s.Attr(string(observe.AttrOutcome))
		if s.Error != "" {
			outcome = strings.TrimSpace(outcome + " " + firstLine(s.Error, 80))
		}
		fmt.Fprintf(tw, "  +%s\t%s%s\t%s\t%s\t%s\n", dur(s.Start.Sub(start)), strings.Repeat("  ", depth[s.SpanID]), s.Name, s.Service, dur(s.End.Sub(s.Start)), outcome)
	}
	return tw.Flush()
}

// depths gives each span its depth below the trace's root(s).
func depths(spans []observe.Span) map[string]int {
	parent := map[string]string{}
	for _, s := range spans {
		parent[s.SpanID] = s.ParentID
	}
	d := map[string]int{}
	for _, s := range spans {
		n, p := 0, s.ParentID
		for p != "" && n < 32 {
			if _, ok := parent[p]; !ok {
				break
			}
			n++
			p = parent[p]
		}
		d[s.SpanID] = n
	}
	return d
}

func when(c Consumer) string {
	if c.At.IsZero() {
		return ""
	}
	if c.After != 0 {
		return clock(c.At) + " (+" + dur(c.After) + ")"
	}
	return clock(c.At)
}

func detail(c Consumer) string {
	var parts []string
	switch c.Outcome {
	case DeadLettered:
		parts = append(parts, fmt.Sprintf("after %d attempts: %s; herald dlq show %d", c.Attempt, firstLine(c.Error, 100), c.DLQSeq))
	case Retrying:
		parts = append(parts, fmt.Sprintf("attempt %d failed: %s", c.Attempt, firstLine(c.Error, 100)))
	}
	if c.Redriven {
		parts = append(parts, redriven(c))
	}
	switch {
	case c.Duplicates == 1:
		parts = append(parts, "1 duplicate delivery skipped")
	case c.Duplicates > 1:
		parts = append(parts, fmt.Sprintf("%d duplicate deliveries skipped", c.Duplicates))
	}
	if c.Note != "" {
		parts = append(parts, c.Note)
	}
	return strings.Join(parts, "; ")
}

// redriven says how the event came back from the dead letters:
// "dead-lettered after 3 attempts (error); redriven at 12:00:01.000 by
// ann@laptop via herald dlq redrive".
func redriven(c Consumer) string {
	s := "redriven"
	if c.DeadAttempts > 0 {
		s = fmt.Sprintf("dead-lettered after %d attempts (%s); redriven", c.DeadAttempts, firstLine(c.DeadError, 100))
	}
	for i, r := range c.Redrives {
		if i > 0 {
			s += " and"
		}
		s += " at " + clock(r.At)
		if r.By != "" {
			s += " by " + r.By
		}
	}
	return s
}

func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }

func dur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + dur(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(time.Millisecond).String()
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
