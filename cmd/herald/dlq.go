package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
)

// dlqCmd works on the dead-letter stream of a running system.
type dlqCmd struct {
	operatorFlags

	List    dlqListCmd    `cmd:"" help:"List dead-lettered events, oldest first."`
	Show    dlqShowCmd    `cmd:"" help:"Show one dead-lettered event in full."`
	Redrive dlqRedriveCmd `cmd:"" help:"Give dead-lettered events back to the consumer that failed them (after a fix), and remove them."`
	Discard dlqDiscardCmd `cmd:"" help:"Remove dead-lettered events for good."`
}

type dlqListCmd struct {
	Consumer string `env:"HERALD_DLQ_CONSUMER" help:"Only this consumer's (e.g. shop-query)."`
}

type dlqShowCmd struct {
	Seq uint64 `arg:"" help:"Position in the dead-letter stream, as listed."`
}

type dlqSelect struct {
	Seqs     []uint64 `arg:"" optional:"" help:"Positions in the dead-letter stream, as listed."`
	All      bool     `env:"HERALD_DLQ_ALL" help:"Every dead letter (of --consumer, if given)."`
	Consumer string   `env:"HERALD_DLQ_CONSUMER" help:"With --all: only this consumer's."`
}

type dlqRedriveCmd struct{ dlqSelect }

type dlqDiscardCmd struct{ dlqSelect }

// DLQ runs the dead-letter subcommand named by command ("dlq list", ...)
// against the bus at c.NATS and prints its result to m.Out.
func (m *Main) DLQ(ctx context.Context, c dlqCmd, command string) error {
	b, nc, err := c.dial("herald dlq", m.Log)
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	switch {
	case command == "dlq list":
		return m.dlqList(ctx, b, c.List.Consumer)
	case strings.HasPrefix(command, "dlq show"):
		return m.dlqShow(ctx, b, c.Show.Seq)
	case strings.HasPrefix(command, "dlq redrive"):
		return m.dlqEach(ctx, b, c.Redrive.dlqSelect, "redriven to", b.Redrive)
	case strings.HasPrefix(command, "dlq discard"):
		return m.dlqEach(ctx, b, c.Discard.dlqSelect, "discarded from", b.Discard)
	}
	return fmt.Errorf("unknown command %q", command)
}

func (m *Main) dlqList(ctx context.Context, b *jetstream.Bus, consumer string) error {
	dead, err := b.DeadLetters(ctx, consumer)
	if err != nil {
		return err
	}
	if len(dead) == 0 {
		fmt.Fprintln(m.Out, "no dead letters")
		return nil
	}
	w := tabwriter.NewWriter(m.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SEQ\tSERVICE\tCONSUMER\tSUBJECT\tATTEMPTS\tAGE\tERROR")
	for _, d := range dead {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\n", d.Seq, serviceOf(d), d.Consumer, d.Subject, d.Attempts, age(d.FailedAt), firstLine(d.Error, 100))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "%d dead letters; herald dlq show SEQ for one in full\n", len(dead))
	return nil
}

func (m *Main) dlqShow(ctx context.Context, b *jetstream.Bus, seq uint64) error {
	d, err := b.DeadLetter(ctx, seq)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "seq:       %d\nservice:   %s\nconsumer:  %s\nstream:    %s (position %d)\nsubject:   %s\nevent id:  %s\nattempts:  %d\nfailed at: %s (%s ago)\nerror:\n  %s\ndata:\n",
		d.Seq, serviceOf(d), d.Consumer, d.Stream, d.Sequence, d.Subject, d.ID, d.Attempts,
		d.FailedAt.Format(time.RFC3339), age(d.FailedAt), strings.ReplaceAll(d.Error, "\n", "\n  "))
	var pretty bytes.Buffer
	if json.Indent(&pretty, d.Data, "  ", "  ") == nil {
		fmt.Fprintf(m.Out, "  %s\n", pretty.String())
	} else {
		fmt.Fprintf(m.Out, "  %q (not JSON)\n", d.Data)
	}
	return nil
}

// dlqEach applies do to each selected dead letter and reports each result.
func (m *Main) dlqEach(ctx context.Context, b *jetstream.Bus, sel dlqSelect, verb string, do func(context.Context, uint64) error) error {
	var targets []bus.DeadLetter
	switch {
	case sel.All && len(sel.Seqs) > 0:
		return errors.New("give positions or --all, not both")
	case sel.All:
		dead, err := b.DeadLetters(ctx, sel.Consumer)
		if err != nil {
			return err
		}
		targets = dead
	case len(sel.Seqs) > 0:
		for _, seq := range sel.Seqs {
			d, err := b.DeadLetter(ctx, seq)
			if err != nil {
				return err
			}
			targets = append(targets, d)
		}
	default:
		return errors.New("name the dead letters by position (see herald dlq list), or pass --all")
	}
	if len(targets) == 0 {
		fmt.Fprintln(m.Out, "no dead letters")
		return nil
	}
	for _, d := range targets {
		if err := do(ctx, d.Seq); err != nil {
			return err
		}
		fmt.Fprintf(m.Out, "%d %s %s\n", d.Seq, verb, d.Consumer)
	}
	return nil
}

// serviceOf names the service that runs the consumer that dead-lettered
// d, from the catalogue; "?" for a consumer it does not know (one of
// another binary's services, or of a service since removed).
func serviceOf(d bus.DeadLetter) string {
	if _, s, _, ok := apps(serviceFlags{}).Consumer(d.Consumer); ok {
		return s.Name
	}
	return "?"
}

func age(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return time.Since(t).Round(time.Second).String()
}

func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
