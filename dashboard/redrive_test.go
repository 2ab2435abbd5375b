package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/dlq"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// deadEvent puts the event data (whose id is id) in the DLQ as consumer's,
// failed at failedAt, and returns its position.
func (s *system) deadEvent(consumer, id, subject string, data []byte, failedAt time.Time) uint64 {
	s.t.Helper()
	pos, err := s.nats.Bus.PublishHeader(context.Background(), "dlq."+consumer, "dlq/"+consumer+"/"+id, map[string]string{
		jetstream.HeaderConsumer: consumer, jetstream.HeaderStream: shop.Stream, jetstream.HeaderSequence: "1",
		jetstream.HeaderSubject: subject, jetstream.HeaderMsgID: id, jetstream.HeaderError: "boom",
		jetstream.HeaderAttempts: "3", jetstream.HeaderFailedAt: failedAt.UTC().Format(time.RFC3339Nano),
	}, data)
	if err != nil {
		s.t.Fatal(err)
	}
	return pos
}

// newEvent returns a new event of typ with data, its id and its subject.
func newEvent(t *testing.T, typ string, data any) (string, []byte) {
	t.Helper()
	e, err := event.New("/shop/test", typ, "1", 1, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return e.ID, b
}

// TestRedriveAPIPlansSkipsAppliedAndFilters: POST /api/dlq/redrive with
// dryRun answers what would be redriven and what is skipped as applied,
// changing nothing; filters and max select as herald dlq's do; GET
// /api/dlq filters the same way; and a real redrive records who did it.
func TestRedriveAPIPlansSkipsAppliedAndFilters(t *testing.T) {
	sys := newSystem(t, "query")
	dir := t.TempDir()
	key, set, err := auth.Ensure(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	operator, _, err := (&auth.Issuer{Key: key}).IssueOperator(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o := sys.options()
	o.Auth = auth.NewVerifier(func() *auth.KeySet { return set })
	url := serve(t, o)

	// An event the query applies, which then also waits in its dead letters.
	appliedID, appliedData := newEvent(t, event.ProductCreated, event.ProductData{ID: 1, Title: "kettle", Image: "k.png"})
	if err := sys.nats.Bus.Publish(context.Background(), "shop.product.created", appliedID, appliedData); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		var j service.Journey
		if err := sys.ask(context.Background(), "query", "/journey?event="+appliedID, &j); err != nil || j.Applied == nil {
			return fmt.Errorf("query has not applied %s: %v", appliedID, err)
		}
		return nil
	})
	now := time.Now()
	userID, userData := newEvent(t, event.UserCreated, event.UserCreatedData{ID: 7, Name: "Ann", Email: "ann@example.com"})
	user := sys.deadEvent("shop-query", userID, "shop.user.created", userData, now.Add(-3*time.Hour))
	applied := sys.deadEvent("shop-query", appliedID, "shop.product.created", appliedData, now.Add(-time.Hour))
	newID, newData := newEvent(t, event.ProductCreated, event.ProductData{ID: 2, Title: "teapot", Image: "t.png"})
	fresh := sys.deadEvent("shop-query", newID, "shop.product.created", newData, now.Add(-time.Minute))
	dlqBefore := fmt.Sprint(sys.nats.Bus.Read(context.Background(), jetstream.DLQStream, nil, 0, 0))

	plan := func(body RedriveRequest) RedriveAnswer {
		t.Helper()
		body.DryRun = true
		var a RedriveAnswer
		if code, b := call(t, "POST", url+"/api/dlq/redrive", operator, body, &a); code != 200 || !a.DryRun {
			t.Fatalf("dry run %+v: %d %s", body, code, b)
		}
		return a
	}
	a := plan(RedriveRequest{All: true})
	if !slices.Equal(a.Done, []uint64{user, fresh}) || !slices.Equal(a.Skipped, []uint64{applied}) || len(a.Failed) != 0 || len(a.Decisions) != 3 {
		t.Fatalf("dry run of all: %+v", a)
	}
	d := a.Decisions[1]
	if d.Seq != applied || d.Action != dlq.Applied || d.Service != "query" || d.EventID != appliedID || d.AppliedAt.IsZero() ||
		!strings.Contains(d.Reason, "already applied by query at ") || !strings.HasSuffix(d.Reason, "discard it with herald dlq discard "+strconv.FormatUint(applied, 10)) {
		t.Errorf("the applied one's decision: %+v", d)
	}
	if d := a.Decisions[2]; d.Action != dlq.Redrive || d.Consumer != "shop-query" || d.Type != event.ProductCreated || d.Reason != "query has not applied it" || d.Unchecked {
		t.Errorf("the fresh one's decision: %+v", d)
	}
	for _, c := range []struct {
		body RedriveRequest
		done []uint64
	}{
		{RedriveRequest{Type: event.ProductCreated}, []uint64{fresh}},
		{RedriveRequest{Since: "2h"}, []uint64{fresh}},
		{RedriveRequest{Until: "2h"}, []uint64{user}},
		{RedriveRequest{Consumer: "shop-orders"}, []uint64{}},
		{RedriveRequest{Seqs: []uint64{fresh, user}, Type: event.UserCreated}, []uint64{user}},
		{RedriveRequest{All: true, Max: 1}, []uint64{user}},
	} {
		if a := plan(c.body); !slices.Equal(a.Done, c.done) {
			t.Errorf("dry run %+v would redrive %v, want %v", c.body, a.Done, c.done)
		}
	}
	if got := fmt.Sprint(sys.nats.Bus.Read(context.Background(), jetstream.DLQStream, nil, 0, 0)); got != dlqBefore {
		t.Fatal("dry runs changed the DLQ")
	}
	for _, body := range []any{RedriveRequest{}, RedriveRequest{All: true, Max: maxRedrive + 1}, RedriveRequest{All: true, Seqs: []uint64{1}},
		RedriveRequest{Since: "yesterday"}, RedriveRequest{Consumer: "a.b"}} {
		wantProblem(t, http.StatusUnprocessableEntity, "POST", url+"/api/dlq/redrive", operator, body)
	}
	wantProblem(t, http.StatusBadRequest, "POST", url+"/api/dlq/redrive", operator, map[string]any{"dry": true})

	var list DeadLetters
	for q, want := range map[string][]uint64{
		"?type=" + event.UserCreated:    {user},
		"?since=2h":                     {applied, fresh},
		"?until=2h&consumer=shop-query": {user},
		"":                              {user, applied, fresh},
	} {
		if code, b := call(t, "GET", url+"/api/dlq"+q, "", nil, &list); code != 200 {
			t.Fatalf("GET /api/dlq%s: %d %s", q, code, b)
		}
		var got []uint64
		for _, d := range list.DeadLetters {
			got = append(got, d.Seq)
		}
		if !slices.Equal(got, want) {
			t.Errorf("GET /api/dlq%s = %v, want %v", q, got, want)
		}
	}
	if call(t, "GET", url+"/api/dlq?type="+event.UserCreated, "", nil, &list); len(list.DeadLetters) != 1 || list.DeadLetters[0].Type != event.UserCreated || list.DeadLetters[0].ID != userID {
		t.Errorf("a dead letter's type and id: %+v", list.DeadLetters)
	}
	wantProblem(t, http.StatusUnprocessableEntity, "GET", url+"/api/dlq?since=soon", "", nil)

	// For real, at most one: the oldest, recorded as the operator's.
	var done RedriveAnswer
	if code, b := call(t, "POST", url+"/api/dlq/redrive", operator, RedriveRequest{All: true, Max: 1}, &done); code != 200 || done.DryRun {
		t.Fatalf("redrive: %d %s", code, b)
	}
	if !slices.Equal(done.Done, []uint64{user}) || !slices.Equal(done.Skipped, []uint64{applied, fresh}) || len(done.Failed) != 0 {
		t.Fatalf("redrive with max 1: %+v", done)
	}
	msgs, err := sys.nats.Bus.Read(context.Background(), shop.Stream, []string{"shop.redrive.shop-query"}, 0, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("redrive messages: %d, %v", len(msgs), err)
	}
	if by := msgs[0].Header[jetstream.HeaderRedrivenBy]; len(by) != 1 || by[0] != "operator at 127.0.0.1 via the dashboard" {
		t.Errorf("the redrive says it was by %q", by)
	}
	left, err := sys.nats.Bus.DeadLetters(context.Background(), "")
	if err != nil || len(left) != 2 || left[0].Seq != applied || left[1].Seq != fresh {
		t.Errorf("left in the DLQ: %+v, %v", left, err)
	}
}

// TestRedriveAPIUpcasts: with upcast, a product event dead-lettered as v1
// goes back to its consumer as v2, keeping its id.
func TestRedriveAPIUpcasts(t *testing.T) {
	sys := newSystem(t)
	url := serve(t, sys.options())
	id, data := newEvent(t, event.ProductCreated, event.ProductData{ID: 7, Title: "lamp", Image: "l.png"})
	seq := sys.deadEvent("shop-query", id, "shop.product.created", data, time.Now())
	var a RedriveAnswer
	if code, body := call(t, "POST", url+"/api/dlq/redrive", "", RedriveRequest{Seqs: []uint64{seq}, Upcast: true}, &a); code != 200 || len(a.Done) != 1 {
		t.Fatalf("%d %s", code, body)
	}
	msgs, err := sys.nats.Bus.Read(context.Background(), shop.Stream, []string{"shop.redrive.shop-query"}, 0, 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%d redrive messages (%v), want 1", len(msgs), err)
	}
	e, err := event.Parse(msgs[0].Data)
	if err != nil || e.Type != event.ProductCreatedV2 || e.ID != id || !strings.Contains(string(e.Data), `"currency":"EUR"`) {
		t.Fatalf("redriven as %s %s %s (%v), want %s of %s", e.Type, e.ID, e.Data, err, event.ProductCreatedV2, id)
	}
}
