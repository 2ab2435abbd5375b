package journey

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/observe"
)

func TestReplicasFindsEveryReplicaOfAReadModelAndNothingElse(t *testing.T) {
	onBus := []string{"shop-orders", "shop-query-b", "shop-query", "shop-query-a-1", "shop-queryx"}
	if got := replicas(onBus, "shop-query"); !slices.Equal(got, []string{"shop-query", "shop-query-a-1", "shop-query-b"}) {
		t.Errorf("replicas = %v", got)
	}
	if got := replicas(nil, "shop-query"); !slices.Equal(got, []string{"shop-query"}) {
		t.Errorf("with none on the bus: %v, want the base name, to report it not started", got)
	}
}

func TestWriteShowsEachOutcomeAndTheSpanTree(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	j := Journey{
		Event:     &Event{ID: "e1", Type: "shop.order.created.v1"},
		TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
		Committed: &Step{Service: "orders", At: at},
		Published: &Published{Stream: "SHOP", Sequence: 7, At: at.Add(time.Millisecond), After: time.Millisecond},
		Consumers: []Consumer{
			{Service: "query", Consumer: "shop-query", Outcome: Applied, At: at.Add(3 * time.Millisecond), After: 3 * time.Millisecond, Duplicates: 1},
			{Service: "orders", Consumer: "shop-orders", Outcome: DeadLettered, Attempt: 5, Error: "boom\nstack", DLQSeq: 9},
			{Service: "other", Consumer: "shop-other", Outcome: Retrying, Attempt: 2, Error: "flaky"},
			{Service: "late", Consumer: "shop-late", Outcome: Pending, Note: "the consumer has settled the stream up to 3"},
		},
		Spans: []observe.Span{
			{SpanID: "a", Name: "POST /orders", Service: "orders", Start: at, End: at.Add(time.Millisecond)},
			{SpanID: "b", ParentID: "a", Name: "send shop.order.created", Service: "orders", Start: at.Add(time.Millisecond), End: at.Add(2 * time.Millisecond)},
			{SpanID: "c", ParentID: "b", Name: "process shop.order.created", Service: "query", Start: at.Add(2 * time.Millisecond), End: at.Add(3 * time.Millisecond),
				Attrs: map[string]string{string(observe.AttrOutcome): observe.OutcomeApplied}},
		},
	}
	var b bytes.Buffer
	if err := Write(&b, j); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"SHOP #7", "1.0ms after commit", "(+3.0ms)", "1 duplicate delivery skipped",
		"dead-lettered", "after 5 attempts: boom; herald dlq show 9",
		"retrying", "attempt 2 failed: flaky", "pending", "settled the stream up to 3",
		"\n  +0µs    POST /orders", "\n  +1.0ms    send shop.order.created", "\n  +2.0ms      process shop.order.created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Write lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "stack") {
		t.Errorf("Write shows more than an error's first line:\n%s", out)
	}
}
