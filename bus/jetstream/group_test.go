package jetstream

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// outgoing returns n messages on subject with ids <prefix>-<from>...
func outgoing(subject, prefix string, from, n int) []bus.Outgoing {
	ms := make([]bus.Outgoing, n)
	for i := range ms {
		id := fmt.Sprintf("%s-%d", prefix, from+i)
		ms[i] = bus.Outgoing{Subject: subject, ID: id, Data: []byte(id)}
	}
	return ms
}

// readIDs returns the ids (Nats-Msg-Id) of stream's messages in stream
// order, and their Nats-Batch-Id headers.
func readIDs(t *testing.T, b *Bus, stream string) (ids, batches []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := b.Read(ctx, stream, nil, 0, 0)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	for _, m := range msgs {
		h := headerGetter(m.Header)
		ids = append(ids, h(jetstream.MsgIDHeader))
		batches = append(batches, h("Nats-Batch-Id"))
	}
	return ids, batches
}

// TestPublishGroupStoresOneAtomicBatchInOrder: a group bound for a stream
// EnsureStream made goes as one atomic batch, stored whole and in the
// order sent; sent again (a relay that restarted before deleting it), the
// server refuses the batch for its known ids, and the bus sends each alone,
// so the stream still holds each once.
func TestPublishGroupStoresOneAtomicBatchInOrder(t *testing.T) {
	b, _ := startTestServer(t).dial(t)
	stream, prefix := newStream(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	first := outgoing(prefix+".a", "e", 0, 50)
	if err := b.PublishGroup(first)(ctx); err != nil {
		t.Fatalf("publish group: %v", err)
	}
	ids, batches := readIDs(t, b, stream)
	if len(ids) != len(first) {
		t.Fatalf("stream holds %d messages, want %d", len(ids), len(first))
	}
	for i, id := range ids {
		if id != first[i].ID {
			t.Fatalf("message %d is %s, want %s: the group was not stored in the order sent", i+1, id, first[i].ID)
		}
		if batches[i] == "" || batches[i] != batches[0] {
			t.Fatalf("message %d has batch id %q, the first %q: want one atomic batch", i+1, batches[i], batches[0])
		}
	}

	// Half known, half new: a batch the server refuses, then sent one by one.
	again := append(first[25:], outgoing(prefix+".a", "e", 50, 25)...)
	if err := b.PublishGroup(again)(ctx); err != nil {
		t.Fatalf("publish group again: %v", err)
	}
	ids, _ = readIDs(t, b, stream)
	if len(ids) != 75 {
		t.Fatalf("stream holds %d messages, want 75, each once", len(ids))
	}
	for i, id := range ids {
		if want := fmt.Sprintf("e-%d", i); id != want {
			t.Fatalf("message %d is %s, want %s", i+1, id, want)
		}
	}
}

// TestPublishGroupWithoutAtomicBatchesSendsEachAlone: a stream made
// without atomic batches (by an older Herald, or an operator), or a group
// spanning two streams, still gets every message, each sent on its own.
func TestPublishGroupWithoutAtomicBatchesSendsEachAlone(t *testing.T) {
	b, nc := startTestServer(t).dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PLAIN", Subjects: []string{"plain.>"}}); err != nil {
		t.Fatal(err)
	}
	a, prefix := newStream(t, b)

	if err := b.PublishGroup(outgoing("plain.x", "p", 0, 10))(ctx); err != nil {
		t.Fatalf("publish group to a stream without atomic batches: %v", err)
	}
	mixed := append(outgoing(prefix+".x", "m", 0, 5), outgoing("plain.x", "m", 5, 5)...)
	if err := b.PublishGroup(mixed)(ctx); err != nil {
		t.Fatalf("publish group over two streams: %v", err)
	}
	for stream, want := range map[string]int{"PLAIN": 15, a: 5} {
		ids, batches := readIDs(t, b, stream)
		if len(ids) != want {
			t.Errorf("%s holds %d messages, want %d", stream, len(ids), want)
		}
		for i, id := range batches {
			if id != "" {
				t.Errorf("%s message %d came in batch %s, want each alone", stream, i+1, id)
			}
		}
	}
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		subject, filter string
		want            bool
	}{
		{"shop.order.created.v1", "shop.>", true},
		{"shop", "shop.>", false},
		{"shop.order", "shop.*", true},
		{"shop.order.created", "shop.*", false},
		{"shop.order.created", "shop.*.created", true},
		{"blog.post", "shop.>", false},
		{"shop.order", "shop.order", true},
		{"shop.orders", "shop.order", false},
	} {
		if got := matches(c.subject, c.filter); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.subject, c.filter, got, c.want)
		}
	}
}
