package main

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
)

func TestDLQCommandsListShowRedriveAndDiscard(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir)
	url := m.server.ClientURL()
	dlq := func(args ...string) string {
		t.Helper()
		var c cli
		p := mustParser(t, &c)
		args = append(args, "--nats", url, "--data", dir)
		for _, s := range m.running.Services { // a redrive asks the services
			args = append(args, "--addr", s.Name+"="+strings.TrimPrefix(s.URL(), "http://"))
		}
		kctx, err := p.Parse(append([]string{"dlq"}, args...))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		run := &Main{Log: slog.New(slog.DiscardHandler), Out: &out}
		if err := run.DLQ(context.Background(), c.DLQ, kctx.Command()); err != nil {
			t.Fatalf("herald dlq %v: %v", args, err)
		}
		return out.String()
	}

	// An undecodable event on a subject both orders and query consume: each
	// tries it 3 times (testFlags) and dead-letters it.
	b := dialAs(t, url, natsSecrets(dir), jetstream.AdminIdentity)
	if err := b.Publish(context.Background(), "shop.product.created", "bad-1", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	var list string
	waitFor(t, func() bool {
		list = dlq("list")
		return strings.Count(list, "malformed event") == 2
	}, func() string { return list })
	for _, want := range []string{"SEQ", "SERVICE", "query ", "orders ", "shop-query", "shop-orders", "shop.product.created", "2 dead letters"} {
		if !strings.Contains(list, want) {
			t.Errorf("dlq list lacks %q:\n%s", want, list)
		}
	}

	dead, err := b.DeadLetters(context.Background(), "shop-query")
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters of shop-query: %v, %v", dead, err)
	}
	show := dlq("show", strconv.FormatUint(dead[0].Seq, 10))
	for _, want := range []string{"service:   query", "consumer:  shop-query", "attempts:  3", "malformed event", `"{not json" (not JSON)`} {
		if !strings.Contains(show, want) {
			t.Errorf("dlq show lacks %q:\n%s", want, show)
		}
	}

	// Redrive gives it back to query only; still undecodable, it fails its
	// three fresh attempts and is dead-lettered again, at a new position.
	if out := dlq("redrive", "--all", "--consumer", "shop-query"); !strings.Contains(out, "redriven to shop-query") {
		t.Fatalf("dlq redrive said:\n%s", out)
	}
	waitFor(t, func() bool {
		d, err := b.DeadLetters(context.Background(), "shop-query")
		return err == nil && len(d) == 1 && d[0].Seq != dead[0].Seq && d[0].Subject == "shop.redrive.shop-query"
	}, func() string { return dlq("list") })
	if d, _ := b.DeadLetters(context.Background(), "shop-orders"); len(d) != 1 {
		t.Fatalf("orders has %d dead letters after a redrive to query, want its 1 unchanged", len(d))
	}

	if out := dlq("discard", "--all"); strings.Count(out, "discarded from") != 2 {
		t.Fatalf("dlq discard --all said:\n%s", out)
	}
	if out := dlq("list"); !strings.Contains(out, "no dead letters") {
		t.Fatalf("after discard, dlq list said:\n%s", out)
	}
}

func waitFor(t *testing.T, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true after 20s:\n%s", describe())
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}
