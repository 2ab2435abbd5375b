package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// redriveRig is herald up (shop and blog) with herald dlq run against it
// as a person runs it: the bus's URL, the data dir and every service's
// address.
type redriveRig struct {
	t    *testing.T
	m    *Main
	dir  string
	bus  *jetstream.Bus // as the admin
	args []string
}

func newRedriveRig(t *testing.T) *redriveRig {
	t.Helper()
	dir := t.TempDir()
	m := upOnTCP(t, dir)
	r := &redriveRig{t: t, m: m, dir: dir, args: []string{"--nats", m.server.ClientURL(), "--data", dir}}
	for _, s := range m.running.Services {
		r.args = append(r.args, "--addr", s.Name+"="+strings.TrimPrefix(s.URL(), "http://"))
	}
	r.bus = dialAs(t, m.server.ClientURL(), natsSecrets(dir), jetstream.AdminIdentity)
	return r
}

// dlq runs herald dlq with args and returns what it printed and its error.
func (r *redriveRig) dlq(args ...string) (string, error) {
	r.t.Helper()
	var c cli
	k, err := mustParser(r.t, &c).Parse(append(append([]string{"dlq"}, args...), r.args...))
	if err != nil {
		r.t.Fatalf("herald dlq %v: %v", args, err)
	}
	var out bytes.Buffer
	err = (&Main{Log: slog.New(slog.DiscardHandler), Out: &out}).DLQ(context.Background(), c.DLQ, k.Command())
	return out.String(), err
}

// mustDLQ is dlq that fails the test on an error.
func (r *redriveRig) mustDLQ(args ...string) string {
	r.t.Helper()
	out, err := r.dlq(args...)
	if err != nil {
		r.t.Fatalf("herald dlq %v: %v\n%s", args, err, out)
	}
	return out
}

// deadLetter puts data (an event) in the DLQ as consumer's, failed at
// failedAt, as the bus does after the last attempt, and returns its
// position.
func (r *redriveRig) deadLetter(consumer, id, subject string, data []byte, failedAt time.Time) uint64 {
	r.t.Helper()
	seq, err := r.bus.PublishHeader(context.Background(), "dlq."+consumer, "dlq/"+consumer+"/"+id, map[string]string{
		jetstream.HeaderConsumer: consumer, jetstream.HeaderStream: shop.Stream, jetstream.HeaderSequence: "1",
		jetstream.HeaderSubject: subject, jetstream.HeaderMsgID: id, jetstream.HeaderError: "boom",
		jetstream.HeaderAttempts: "3", jetstream.HeaderFailedAt: failedAt.UTC().Format(time.RFC3339Nano),
	}, data)
	if err != nil {
		r.t.Fatal(err)
	}
	return seq
}

// newEvent returns a valid event of typ that no service has seen, and its
// id.
func (r *redriveRig) newEvent(typ string, data any) (string, []byte) {
	r.t.Helper()
	e, err := event.New("/shop/test", typ, "1", 1, data)
	if err != nil {
		r.t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	return e.ID, b
}

// product is a dead letter of consumer: a new product created, failed at
// failedAt.
func (r *redriveRig) product(consumer string, id int64, failedAt time.Time) uint64 {
	r.t.Helper()
	evID, data := r.newEvent(event.ProductCreated, event.ProductData{ID: id, Title: "p" + strconv.FormatInt(id, 10), Image: "p.png"})
	return r.deadLetter(consumer, evID, "shop.product.created", data, failedAt)
}

// readModel returns every row of the query's database, table by table.
func (r *redriveRig) readModel() string {
	r.t.Helper()
	db := r.m.Service("query").DB
	tables, err := column(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		r.t.Fatal(err)
	}
	var out strings.Builder
	for _, tb := range tables {
		rows, err := db.Query("SELECT * FROM " + tb + " ORDER BY 1")
		if err != nil {
			r.t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				r.t.Fatal(err)
			}
			fmt.Fprintf(&out, "%s %v\n", tb, vals)
		}
		rows.Close()
	}
	return out.String()
}

func column(db *sql.DB, q string) ([]string, error) {
	rows, err := db.Query(q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// stored returns every message of stream on filter, as stored.
func (r *redriveRig) stored(stream, filter string) string {
	r.t.Helper()
	var f []string
	if filter != "" {
		f = []string{filter}
	}
	msgs, err := r.bus.Read(context.Background(), stream, f, 0, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return fmt.Sprintf("%+v", msgs)
}

// applied waits until the query says it applied event id.
func (r *redriveRig) applied(id string) {
	r.t.Helper()
	sys := systemFlags{operatorFlags: operatorFlags{Data: r.dir}}
	waitFor(r.t, func() bool {
		var j service.Journey
		err := sys.ask(context.Background(), "query", r.m.Service("query").URL()+"/journey?event="+id, &j)
		return err == nil && j.Applied != nil
	}, func() string { return "query has not applied " + id })
}

var wouldRedrive = regexp.MustCompile(`(?m)^(\d+)  would be redriven to `)

// wouldBe returns the positions a dry run's output would redrive.
func wouldBe(out string) []uint64 {
	var seqs []uint64
	for _, m := range wouldRedrive.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		seqs = append(seqs, n)
	}
	return seqs
}

// TestRedriveDryRunChangesNothingMaxTakesTheOldestAndAppliedIsSkipped: a
// dry run says what a redrive would do and changes nothing; --max 1
// redrives only the oldest; an event the query has applied since it was
// dead-lettered is left where it is, with how to discard it; and a query
// that cannot be asked is said so, and redriven to anyway.
func TestRedriveDryRunChangesNothingMaxTakesTheOldestAndAppliedIsSkipped(t *testing.T) {
	r := newRedriveRig(t)
	tok := operatorToken(t, r.dir)
	post(t, tok, r.m.Service("products").URL()+"/products", map[string]string{"title": "kettle", "image": "kettle.png"})
	var kettle jetstream.Stored
	waitFor(t, func() bool {
		msgs, err := r.bus.Read(context.Background(), shop.Stream, []string{"shop.product.created"}, 0, 0)
		if err != nil || len(msgs) != 1 {
			return false
		}
		kettle = msgs[0]
		return true
	}, func() string { return r.stored(shop.Stream, "") })
	kettleID := jetstream.EventID("", kettle.Data)
	r.applied(kettleID)

	now := time.Now()
	oldest := r.product("shop-query", 9001, now.Add(-3*time.Hour))
	applied := r.deadLetter("shop-query", kettleID, kettle.Subject, kettle.Data, now.Add(-2*time.Hour)) // applied since
	newest := r.product("shop-query", 9002, now.Add(-time.Hour))

	dlqBefore, modelBefore, redrivesBefore := r.stored(jetstream.DLQStream, ""), r.readModel(), r.stored(shop.Stream, "shop.redrive.>")
	out := r.mustDLQ("redrive", "--all", "--dry-run")
	t.Logf("herald dlq redrive --all --dry-run:\n%s", out)
	if got := wouldBe(out); !slices.Equal(got, []uint64{oldest, newest}) {
		t.Errorf("a dry run would redrive %v, want %v:\n%s", got, []uint64{oldest, newest}, out)
	}
	for _, want := range []string{
		"dry run: nothing is redriven or removed",
		fmt.Sprintf("%d  would be redriven to shop-query (shop.product.created.v1 ", oldest),
		"query has not applied it",
		fmt.Sprintf("%d  of shop-query (%s %s): already applied by query at ", applied, event.ProductCreatedV2, kettleID), // products writes v2
		fmt.Sprintf(": skipped; discard it with herald dlq discard %d", applied),
		"dry run: 2 would be redriven, 1 skipped as already applied",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run lacks %q:\n%s", want, out)
		}
	}
	if r.stored(jetstream.DLQStream, "") != dlqBefore || r.readModel() != modelBefore || r.stored(shop.Stream, "shop.redrive.>") != redrivesBefore {
		t.Fatalf("a dry run changed the DLQ, the read model or the stream:\n%s", out)
	}

	// The applied one alone: nothing changes at all, and the output says
	// why and what to do.
	out, err := r.dlq("redrive", strconv.FormatUint(applied, 10))
	if err != nil || !strings.Contains(out, ": already applied by query at ") || !strings.Contains(out, "0 redriven, 1 skipped as already applied") {
		t.Fatalf("redrive of an applied event: %v\n%s", err, out)
	}
	if r.stored(jetstream.DLQStream, "") != dlqBefore || r.readModel() != modelBefore || r.stored(shop.Stream, "shop.redrive.>") != redrivesBefore {
		t.Fatalf("the redrive of an applied event changed the DLQ, the read model or the stream:\n%s", out)
	}

	// --max 1: the oldest only.
	out = r.mustDLQ("redrive", "--all", "--max", "1")
	if !strings.Contains(out, fmt.Sprintf("%d  redriven to shop-query", oldest)) || strings.Contains(out, fmt.Sprintf("%d  redriven", newest)) ||
		!strings.Contains(out, fmt.Sprintf("%d  of shop-query (%s ", newest, event.ProductCreated)) ||
		!strings.Contains(out, ": left in the dead letters: the max of 1 is reached") ||
		!strings.Contains(out, "1 redriven, 2 left over --max 1") { // once the max is reached, no service is asked
		t.Fatalf("redrive --max 1:\n%s", out)
	}
	waitFor(t, func() bool { return strings.Contains(r.readModel(), "p9001") }, r.readModel)
	left, err := r.bus.DeadLetters(context.Background(), "")
	if err != nil || len(left) != 2 || left[0].Seq != applied || left[1].Seq != newest {
		t.Fatalf("after --max 1, the DLQ holds %+v, %v; want the applied one and the newest", left, err)
	}
	if strings.Contains(r.readModel(), "p9002") {
		t.Fatal("--max 1 redrove the newest too")
	}

	// A query that cannot be asked: said so, and redriven anyway.
	r.args = append(r.args, "--addr", "query=127.0.0.1:1")
	out = r.mustDLQ("redrive", strconv.FormatUint(newest, 10))
	if !strings.Contains(out, fmt.Sprintf("%d  redriven to shop-query", newest)) || !strings.Contains(out, "could not ask query whether it applied the event") ||
		!strings.Contains(out, "redriving anyway: a consumer that records the events it applies (processed_events) skips one it has applied") {
		t.Fatalf("redrive with the query unreachable:\n%s", out)
	}
	waitFor(t, func() bool { return strings.Contains(r.readModel(), "p9002") }, r.readModel)
}

// TestRedriveFiltersSelectWhatTheySay: --type, --consumer, --since and
// --until each select their dead letters, alone, together, with --all and
// with positions; nothing named is refused.
func TestRedriveFiltersSelectWhatTheySay(t *testing.T) {
	r := newRedriveRig(t)
	now := time.Now()
	d1 := r.product("shop-query", 9101, now.Add(-3*time.Hour))
	userID, userData := r.newEvent(event.UserCreated, event.UserCreatedData{ID: 9102, Name: "N", Email: "n@example.com"})
	d2 := r.deadLetter("shop-query", userID, "shop.user.created", userData, now.Add(-time.Hour))
	d3 := r.product("shop-orders", 9103, now.Add(-10*time.Minute))
	d4 := r.product("shop-query", 9104, now)
	dlqBefore := r.stored(jetstream.DLQStream, "")

	for _, c := range []struct {
		args []string
		want []uint64
	}{
		{[]string{"--all"}, []uint64{d1, d2, d3, d4}},
		{[]string{"--type", event.ProductCreated}, []uint64{d1, d3, d4}},
		{[]string{"--consumer", "shop-orders"}, []uint64{d3}},
		{[]string{"--since", "2h"}, []uint64{d2, d3, d4}},
		{[]string{"--until", "30m"}, []uint64{d1, d2}},
		{[]string{"--since", "2h", "--until", "30m"}, []uint64{d2}},
		{[]string{"--since", now.Add(-11 * time.Minute).Format(time.RFC3339)}, []uint64{d3, d4}},
		{[]string{"--all", "--type", event.ProductCreated, "--consumer", "shop-query"}, []uint64{d1, d4}},
		{[]string{strconv.FormatUint(d1, 10), strconv.FormatUint(d2, 10), "--type", event.UserCreated}, []uint64{d2}},
		{[]string{"--type", "shop.nothing.v1"}, nil},
	} {
		out := r.mustDLQ(append([]string{"redrive", "--dry-run"}, c.args...)...)
		if got := wouldBe(out); !slices.Equal(got, c.want) {
			t.Errorf("redrive %v would redrive %v, want %v:\n%s", c.args, got, c.want, out)
		}
	}
	for args, want := range map[string]string{
		"":                      "name the dead letters: by position (see herald dlq list), --all, or a filter (--type, --consumer, --since, --until)",
		"--all 1":               "give positions or all, not both",
		"--since yesterday":     `--since "yesterday" is neither a time`,
		"--since 1h --until 2h": "is after until",
		"--all --rate 0":        "--rate 0: give how many redrives a second at most, more than 0",
	} {
		if out, err := r.dlq(append([]string{"redrive"}, strings.Fields(args)...)...); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("redrive %s: %v, want an error saying %q\n%s", args, err, want, out)
		}
	}
	// A discard cannot be undone: a filter alone does not select.
	if out, err := r.dlq("discard", "--consumer", "shop-query"); err == nil || !strings.Contains(err.Error(), "a discard deletes for good") {
		t.Errorf("discard --consumer alone: %v\n%s", err, out)
	}
	if r.stored(jetstream.DLQStream, "") != dlqBefore {
		t.Fatal("dry runs and refusals changed the DLQ")
	}

	// For real: the filter redrives what it selects and nothing else.
	out := r.mustDLQ("redrive", "--consumer", "shop-orders")
	if !strings.Contains(out, fmt.Sprintf("%d  redriven to shop-orders", d3)) || !strings.Contains(out, "1 redriven") {
		t.Fatalf("redrive --consumer shop-orders:\n%s", out)
	}
	left, err := r.bus.DeadLetters(context.Background(), "")
	if err != nil || len(left) != 3 {
		t.Fatalf("left: %+v, %v; want the 3 the filter did not select", left, err)
	}
	for _, d := range left {
		if d.Seq == d3 {
			t.Fatalf("the redriven dead letter %d is still there", d3)
		}
	}
}

// TestRedriveRateSpacesTheRedrives: five redrives at --rate 2 take at
// least two seconds, and the stream stored them about half a second apart.
func TestRedriveRateSpacesTheRedrives(t *testing.T) {
	r := newRedriveRig(t)
	now := time.Now()
	for i := range 5 {
		r.product("shop-query", int64(9201+i), now.Add(time.Duration(i-5)*time.Minute))
	}
	start := time.Now()
	out := r.mustDLQ("redrive", "--all", "--rate", "2")
	took := time.Since(start)
	if !strings.Contains(out, "5 redriven") {
		t.Fatalf("redrive --rate 2:\n%s", out)
	}
	// The limiter lets the first go at once and each next one half a
	// second after the one before: 2s for five, whatever the machine.
	if took < 2*time.Second {
		t.Errorf("5 redrives at --rate 2 took %v, want at least 2s", took)
	}
	msgs, err := r.bus.Read(context.Background(), shop.Stream, []string{"shop.redrive.shop-query"}, 0, 0)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("%d redrive messages in the stream, %v; want 5", len(msgs), err)
	}
	// The bus stamps each when it stores it, a publish after the limiter
	// let it go: the stamps are 500ms apart give or take the publish's
	// own time, so allow 50ms per gap.
	for i := 1; i < len(msgs); i++ {
		if gap := msgs[i].Time.Sub(msgs[i-1].Time); gap < 450*time.Millisecond {
			t.Errorf("redrives %d and %d were stored %v apart, want about 500ms at --rate 2", i-1, i, gap)
		}
	}
	if span := msgs[4].Time.Sub(msgs[0].Time); span < 1900*time.Millisecond {
		t.Errorf("the five redrives were stored within %v, want about 2s", span)
	}
}

// TestRedriveUpcastSendsAV1EventBackAsV2: a product event dead-lettered as
// v1 goes back to the query, with --upcast, as v2 (price 0 EUR, its id,
// subject and version kept), and the query applies it.
func TestRedriveUpcastSendsAV1EventBackAsV2(t *testing.T) {
	r := newRedriveRig(t)
	seq := r.product("shop-query", 9100, time.Now().Add(-time.Minute))
	dl, err := r.bus.DeadLetter(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	out := r.mustDLQ("redrive", strconv.FormatUint(seq, 10), "--upcast")
	if !strings.Contains(out, fmt.Sprintf("%d  redriven to shop-query", seq)) {
		t.Fatalf("herald dlq redrive --upcast:\n%s", out)
	}
	msgs, err := r.bus.Read(context.Background(), shop.Stream, []string{"shop.redrive.shop-query"}, 0, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("the redrive subject holds %d messages (%v), want 1", len(msgs), err)
	}
	e, err := event.Parse(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		ID       int64  `json:"id"`
		Price    *int64 `json:"price"`
		Currency string `json:"currency"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil || e.Type != event.ProductCreatedV2 || e.ID != dl.ID || e.Subject != "1" || e.EntityVersion != 1 ||
		d.ID != 9100 || d.Price == nil || *d.Price != 0 || d.Currency != "EUR" {
		t.Fatalf("redriven as %s %s subject %q version %d data %s, want %s of %s with price 0 EUR", e.Type, e.ID, e.Subject, e.EntityVersion, e.Data, event.ProductCreatedV2, dl.ID)
	}
	r.applied(dl.ID)
}
