package jetstream

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

// TestRedriveLeavesARecordOfWhoAndWhenInTheStream: a redrive publishes the
// event (transformed, if asked) on the consumer's redrive subject with the
// dead letter's headers, the event id and who redrove it; the consumer
// sees the event's id, not the redrive's message id; and Redrives finds it
// by the event id.
func TestRedriveLeavesARecordOfWhoAndWhenInTheStream(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	subject := prefix + ".orders"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	event := []byte(`{"specversion":"1.0","id":"ev-1","source":"/t","type":"t.order.created.v1","data":{}}`)
	if err := b.Publish(ctx, subject, "ev-1", event); err != nil {
		t.Fatal(err)
	}
	publishN(t, b, subject, 0, 2) // other events, never redriven

	var fail atomic.Bool
	fail.Store(true)
	var mu sync.Mutex
	var seen []bus.Message
	c := bus.Consumer{Name: "billing", Stream: stream, Subjects: []string{subject}, MaxDeliver: 1}
	sub, err := b.Subscribe(ctx, c, func(_ context.Context, m bus.Message) error {
		if m.ID == "ev-1" && fail.Load() {
			return errors.New("card declined")
		}
		mu.Lock()
		seen = append(seen, m)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })
	var dead []bus.DeadLetter
	eventually(t, 30*time.Second, func() bool {
		dead, err = b.DeadLetters(ctx, "billing")
		return err == nil && len(dead) == 1
	}, "no dead letter for billing")

	// A transform that fails publishes nothing and keeps the dead letter.
	if _, err := b.RedriveWith(ctx, dead[0].Seq, RedriveOptions{Transform: func([]byte) ([]byte, error) {
		return nil, errors.New("no upcaster for v1")
	}}); err == nil {
		t.Fatal("a redrive whose transform failed succeeded")
	}
	if _, err := b.DeadLetter(ctx, dead[0].Seq); err != nil {
		t.Fatalf("the dead letter is gone after a failed transform: %v", err)
	}

	fail.Store(false)
	before := time.Now()
	pos, err := b.RedriveWith(ctx, dead[0].Seq, RedriveOptions{By: "ann@laptop\nvia herald dlq", Transform: func(d []byte) ([]byte, error) {
		return bytes.Replace(d, []byte(".v1"), []byte(".v2"), 1), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range seen {
			if m.ID == "ev-1" {
				return true
			}
		}
		return false
	}, "the consumer never saw the redriven event under its own id")
	mu.Lock()
	for _, m := range seen {
		if m.ID == "ev-1" && (m.Sequence != pos || !bytes.Contains(m.Data, []byte(".v2"))) {
			t.Errorf("redriven message %+v, want at %d with the transformed event", m, pos)
		}
	}
	mu.Unlock()

	stored, err := b.Read(ctx, stream, []string{prefix + ".redrive.billing"}, 0, 0)
	if err != nil || len(stored) != 1 || stored[0].Sequence != pos {
		t.Fatalf("redrive messages: %+v, %v; want one at %d", stored, err, pos)
	}
	h := headerGetter(stored[0].Header)
	for key, want := range map[string]string{
		HeaderEventID: "ev-1", HeaderRedrivenBy: "ann@laptop via herald dlq", HeaderRedriveOf: strconv.FormatUint(dead[0].Seq, 10),
		HeaderConsumer: "billing", HeaderStream: stream, HeaderSequence: "1", HeaderSubject: subject,
		HeaderAttempts: "1", HeaderError: "card declined",
	} {
		if got := h(key); got != want {
			t.Errorf("redrive header %s = %q, want %q", key, got, want)
		}
	}

	got, more, err := b.Redrives(ctx, stream, "ev-1", 1, 0)
	if err != nil || more || len(got) != 1 {
		t.Fatalf("Redrives(ev-1) = %+v, %v, %v; want one", got, more, err)
	}
	r := got[0]
	if r.Consumer != "billing" || r.Sequence != pos || r.By != "ann@laptop via herald dlq" || r.DLQSeq != dead[0].Seq ||
		r.Attempts != 1 || r.Error != "card declined" || r.FailedAt.IsZero() || r.At.Before(before.Add(-time.Second)) {
		t.Errorf("redrive record %+v", r)
	}
	if got, _, err := b.Redrives(ctx, stream, "ev-1", pos+1, 0); err != nil || len(got) != 0 {
		t.Errorf("Redrives after the redrive's position = %+v, %v; want none", got, err)
	}
	if got, _, err := b.Redrives(ctx, stream, "other", 1, 0); err != nil || len(got) != 0 {
		t.Errorf("Redrives(other) = %+v, %v; want none", got, err)
	}
	if _, err := b.RedriveWith(ctx, dead[0].Seq, RedriveOptions{}); !errors.Is(err, ErrNoDeadLetter) {
		t.Errorf("a second redrive of the same position: %v, want ErrNoDeadLetter", err)
	}
}

// TestRedrivesStopsAtItsBound: Redrives reads at most scan redrive
// messages and says when it left some unread.
func TestRedrivesStopsAtItsBound(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := b.PublishHeader(ctx, prefix+".redrive.billing", "redrive/billing/"+strconv.Itoa(i), map[string]string{
			HeaderEventID: "ev-" + strconv.Itoa(i%2), HeaderConsumer: "billing",
		}, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if got, more, err := b.Redrives(ctx, stream, "ev-0", 1, 0); err != nil || more || len(got) != 3 {
		t.Fatalf("every redrive of ev-0: %d, more %v, %v; want 3", len(got), more, err)
	}
	if got, more, err := b.Redrives(ctx, stream, "ev-0", 1, 2); err != nil || !more || len(got) != 1 {
		t.Fatalf("ev-0 in the first 2 redrive messages: %d, more %v, %v; want 1 and more", len(got), more, err)
	}
}
