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
	"github.com/heraldev/herald/dlq"
)

// dlqCmd works on the dead-letter stream of a running system. It needs
// the services' addresses (--addr) as herald trace does: a redrive asks
// each consumer's service whether it applied the event.
type dlqCmd struct {
	systemFlags

	List    dlqListCmd    `cmd:"" help:"List dead-lettered events, oldest first."`
	Show    dlqShowCmd    `cmd:"" help:"Show one dead-lettered event in full."`
	Redrive dlqRedriveCmd `cmd:"" help:"Give dead-lettered events back to the consumer that failed them (after a fix), and remove them; an event the consumer's service has applied since is skipped."`
	Discard dlqDiscardCmd `cmd:"" help:"Remove dead-lettered events for good."`
}

type dlqListCmd struct {
	Consumer string `env:"HERALD_DLQ_CONSUMER" help:"Only this consumer's (e.g. shop-query)."`
}

type dlqShowCmd struct {
	Seq uint64 `arg:"" help:"Position in the dead-letter stream, as listed."`
}

// dlqSelect names dead letters, as a dlq.Filter: positions or --all,
// narrowed by the filters.
type dlqSelect struct {
	Seqs     []uint64 `arg:"" optional:"" help:"Positions in the dead-letter stream, as listed."`
	All      bool     `env:"HERALD_DLQ_ALL" help:"Every dead letter (that the filters let through)."`
	Type     string   `env:"HERALD_DLQ_TYPE" placeholder:"TYPE" help:"Only events of this CloudEvent type (e.g. shop.product.created.v1)."`
	Consumer string   `env:"HERALD_DLQ_CONSUMER" help:"Only this consumer's (e.g. shop-query)."`
	Since    string   `env:"HERALD_DLQ_SINCE" placeholder:"TIME" help:"Only those dead-lettered at or after TIME: RFC 3339 (2025-06-01T12:00:00Z), or a duration ago (2h)."`
	Until    string   `env:"HERALD_DLQ_UNTIL" placeholder:"TIME" help:"Only those dead-lettered at or before TIME: RFC 3339, or a duration ago (30m)."`
}

// filter returns the selection as a dlq.Filter, times read against now.
func (s dlqSelect) filter(now time.Time) (dlq.Filter, error) {
	f := dlq.Filter{Seqs: s.Seqs, All: s.All, Type: s.Type, Consumer: s.Consumer}
	var err error
	if f.Since, err = dlq.ParseTime(s.Since, now); err != nil {
		return f, fmt.Errorf("--since %w", err)
	}
	if f.Until, err = dlq.ParseTime(s.Until, now); err != nil {
		return f, fmt.Errorf("--until %w", err)
	}
	err = f.Check()
	if errors.Is(err, dlq.ErrNothingNamed) {
		err = errors.New("name the dead letters: by position (see herald dlq list), --all, or a filter (--type, --consumer, --since, --until)")
	}
	return f, err
}

type dlqDiscardCmd struct{ dlqSelect }

// check returns the selection's filter, or an error that says what to
// give. Unlike a redrive, a discard cannot be undone: filters alone do not
// select, they narrow positions or --all.
func (d dlqDiscardCmd) check(now time.Time) (dlq.Filter, error) {
	if !d.All && len(d.Seqs) == 0 {
		return dlq.Filter{}, errors.New("a discard deletes for good: name the dead letters by position (see herald dlq list), or pass --all (the filters then narrow it)")
	}
	return d.filter(now)
}

// DLQ runs the dead-letter subcommand named by command ("dlq list", ...)
// against the bus at c.NATS and prints its result to m.Out.
func (m *Main) DLQ(ctx context.Context, c dlqCmd, command string) error {
	var err error
	switch { // say what to give before connecting
	case strings.HasPrefix(command, "dlq redrive"):
		_, _, err = c.Redrive.check(time.Now())
	case strings.HasPrefix(command, "dlq discard"):
		_, err = c.Discard.check(time.Now())
	}
	if err != nil {
		return err
	}
	b, nc, err := c.dial("herald dlq", m.Log)
	if err != nil {
		return err
	}
	defer nc.Close()
	if strings.HasPrefix(command, "dlq redrive") {
		return m.dlqRedrive(ctx, b, c) // bounds its own time: its rate does
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	switch {
	case command == "dlq list":
		return m.dlqList(ctx, b, c.List.Consumer)
	case strings.HasPrefix(command, "dlq show"):
		return m.dlqShow(ctx, b, c.Show.Seq)
	case strings.HasPrefix(command, "dlq discard"):
		return m.dlqDiscard(ctx, b, c.Discard)
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

// dlqDiscard removes the selected dead letters.
func (m *Main) dlqDiscard(ctx context.Context, b *jetstream.Bus, sel dlqDiscardCmd) error {
	f, err := sel.check(time.Now())
	if err != nil {
		return err
	}
	targets, missing, err := dlq.Redriver{Bus: b}.Select(ctx, f)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("no dead letter at %v (redriven or discarded already?): nothing discarded; see herald dlq list", missing)
	}
	if len(targets) == 0 {
		fmt.Fprintln(m.Out, "no dead letters")
		return nil
	}
	for _, d := range targets {
		if err := b.Discard(ctx, d.Seq); err != nil {
			return err
		}
		fmt.Fprintf(m.Out, "%d discarded from %s\n", d.Seq, d.Consumer)
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
