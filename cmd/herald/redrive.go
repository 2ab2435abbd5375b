package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/dlq"
)

// dlqRedriveCmd redrives safely: it asks each consumer's service whether
// it applied the event since, at a bounded rate, at most --max.
type dlqRedriveCmd struct {
	dlqSelect
	DryRun bool    `name:"dry-run" env:"HERALD_DLQ_DRY_RUN" help:"Print what would be redriven, to which consumer, and what would be skipped and why; change nothing."`
	Max    int     `env:"HERALD_DLQ_MAX" placeholder:"N" help:"Redrive at most N, oldest first (0: no limit)."`
	Rate   float64 `default:"50" env:"HERALD_DLQ_RATE" help:"Redrive at most this many a second."`
	// Upcast republishes each event through the current event upcasters
	// (upcast): a dead-lettered v1 event goes back as v2.
	Upcast bool `env:"HERALD_DLQ_UPCAST" help:"Republish each event through the current upcasters: a dead-lettered v1 event goes back as v2 (its id, subject, time and version kept)."`
}

// upcast is the transform --upcast passes to each redrive (see
// catalogue.Catalogue.Upcast).
func upcast(data []byte) ([]byte, error) { return apps(serviceFlags{}).Upcast(data) }

// check returns the selection's filter and the transform of --upcast,
// or an error that says what to give, before anything is dialled.
func (r dlqRedriveCmd) check(now time.Time) (dlq.Filter, func([]byte) ([]byte, error), error) {
	f, err := r.filter(now)
	switch {
	case err != nil:
		return f, nil, err
	case r.Max < 0:
		return f, nil, fmt.Errorf("--max %d: give how many at most, or 0 for no limit", r.Max)
	case r.Rate <= 0:
		return f, nil, fmt.Errorf("--rate %g: give how many redrives a second at most, more than 0", r.Rate)
	case r.Upcast:
		return f, upcast, nil
	}
	return f, nil, nil
}

// dlqRedrive plans the redrive c names, prints it, and, unless it is a
// dry run, carries it out, printing each redrive as it is done.
func (m *Main) dlqRedrive(ctx context.Context, b *jetstream.Bus, c dlqCmd) error {
	r := c.Redrive
	f, transform, err := r.check(time.Now())
	if err != nil {
		return err
	}
	cat := apps(serviceFlags{})
	rd := dlq.Redriver{Bus: b, Catalogue: cat, Ask: func(ctx context.Context, name, path string, v any) error {
		return c.askService(ctx, cat, name, path, v)
	}}
	// Each question to a service is bounded (and one that does not answer
	// is not asked again), and so is each read of the bus: this only caps
	// a plan of very many dead letters.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	plan, err := rd.Plan(pctx, f, r.Max)
	cancel()
	if err != nil {
		return err
	}
	if len(plan.Decisions) == 0 {
		fmt.Fprintln(m.Out, "no dead letters")
		return nil
	}
	if r.DryRun {
		fmt.Fprintln(m.Out, "dry run: nothing is redriven or removed")
		for _, d := range plan.Decisions {
			fmt.Fprintln(m.Out, line(d, true))
		}
		fmt.Fprintln(m.Out, summary(plan, nil, true))
		return nil
	}
	if n := plan.Count(dlq.Missing); n > 0 {
		for _, d := range plan.Decisions {
			if d.Action == dlq.Missing {
				fmt.Fprintln(m.Out, line(d, false))
			}
		}
		return fmt.Errorf("%d of the positions hold no dead letter: nothing redriven; see herald dlq list", n)
	}
	for _, d := range plan.Decisions {
		if d.Action != dlq.Redrive {
			fmt.Fprintln(m.Out, line(d, false))
		}
	}
	// The rate bounds how long the redrives take; allow that and a minute.
	n := plan.Count(dlq.Redrive)
	rctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(float64(n)/r.Rate*float64(time.Second)))
	defer cancel()
	results, err := rd.Run(rctx, plan, dlq.RunOptions{Rate: r.Rate, By: redrivenBy("herald dlq redrive"), Transform: transform,
		Done: func(res dlq.Result) { fmt.Fprintln(m.Out, resultLine(res)) }})
	fmt.Fprintln(m.Out, summary(plan, results, false))
	if err != nil {
		return err
	}
	failed := 0
	for _, res := range results {
		if res.Error != "" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d redrives failed; their dead letters are still there", failed, len(results))
	}
	return nil
}

// line prints a decision: what would be (dry) or is done, and why.
func line(d dlq.Decision, dry bool) string {
	switch d.Action {
	case dlq.Missing:
		return fmt.Sprintf("%d  %s", d.Seq, d.Reason)
	case dlq.Applied, dlq.OverMax:
		return fmt.Sprintf("%d  of %s%s: %s", d.Seq, d.Consumer, what(d), d.Reason)
	}
	verb := "to be redriven to"
	if dry {
		verb = "would be redriven to"
	}
	return fmt.Sprintf("%d  %s %s%s: %s", d.Seq, verb, d.Consumer, what(d), d.Reason)
}

func resultLine(r dlq.Result) string {
	if r.Error != "" {
		return fmt.Sprintf("%d  not redriven to %s%s: %s", r.Seq, r.Consumer, what(r.Decision), r.Error)
	}
	return fmt.Sprintf("%d  redriven to %s%s at %s #%d: %s", r.Seq, r.Consumer, what(r.Decision), r.Stream, r.Position, r.Reason)
}

// what names a decision's event: " (type id)".
func what(d dlq.Decision) string {
	switch {
	case d.Type != "" && d.EventID != "":
		return " (" + d.Type + " " + d.EventID + ")"
	case d.EventID != "":
		return " (event " + d.EventID + ")"
	}
	return ""
}

// summary counts the plan's decisions, and the results' failures.
func summary(p dlq.Plan, results []dlq.Result, dry bool) string {
	redriven := p.Count(dlq.Redrive)
	if !dry {
		redriven = 0
		for _, r := range results {
			if r.Error == "" {
				redriven++
			}
		}
	}
	s := fmt.Sprintf("%d redriven", redriven)
	if dry {
		s = fmt.Sprintf("dry run: %d would be redriven", redriven)
	}
	if n := len(results) - redriven; !dry && n > 0 {
		s += fmt.Sprintf(", %d failed", n)
	}
	if n := p.Count(dlq.Applied); n > 0 {
		s += fmt.Sprintf(", %d skipped as already applied", n)
	}
	if n := p.Count(dlq.OverMax); n > 0 {
		s += fmt.Sprintf(", %d left over --max %d", n, p.Max)
	}
	if n := p.Count(dlq.Missing); n > 0 {
		s += fmt.Sprintf(", %d positions hold no dead letter", n)
	}
	return s
}

// redrivenBy names who redrives from here: "ann@laptop via <tool>".
func redrivenBy(tool string) string {
	who := "someone"
	if u, err := user.Current(); err == nil && u.Username != "" {
		who = u.Username
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		who += "@" + host
	}
	return who + " via " + tool
}
