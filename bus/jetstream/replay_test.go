package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

// TestReplayHandsEveryMatchingMessageInOrderInBatches replays a stream of
// two subjects, filtered to one, from a position up to another: fn gets
// exactly the matching messages between them, in stream order, in batches
// of at most the batch size, and Replay returns the end position, though
// the stream goes on past it.
func TestReplayHandsEveryMatchingMessageInOrderInBatches(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	name, prefix := newStream(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ms []bus.Outgoing
	for i := 1; i <= 3000; i++ {
		sub := prefix + ".a"
		if i%3 == 0 {
			sub = prefix + ".b"
		}
		ms = append(ms, bus.Outgoing{Subject: sub, ID: fmt.Sprint(i), Data: []byte(fmt.Sprint(i))})
	}
	for chunk := range slices.Chunk(ms, 500) { // within the async window
		for _, err := range b.PublishAll(ctx, chunk) {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []uint64
	largest := 0
	reached, err := b.Replay(ctx, name, []string{prefix + ".a"}, 101, 2500, 64, func(batch []bus.Message) error {
		largest = max(largest, len(batch))
		for _, m := range batch {
			got = append(got, m.Sequence)
			if m.Subject != prefix+".a" || string(m.Data) != fmt.Sprint(m.Sequence) || m.ID != fmt.Sprint(m.Sequence) {
				t.Errorf("message %d: subject %s, id %s, data %q", m.Sequence, m.Subject, m.ID, m.Data)
			}
		}
		return nil
	})
	if err != nil || reached != 2500 {
		t.Fatalf("Replay: reached %d, %v; want 2500, nil", reached, err)
	}
	var want []uint64
	for seq := uint64(101); seq <= 2500; seq++ {
		if seq%3 != 0 {
			want = append(want, seq)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Replay handed %d messages (%v ... %v), want the %d of subject .a from 101 to 2500", len(got), head(got), tail(got), len(want))
	}
	if largest > 64 {
		t.Errorf("a batch of %d messages, more than 64", largest)
	}

	// Past the last matching message, and from beyond the stream's end.
	if reached, err := b.Replay(ctx, name, []string{prefix + ".b"}, 3000, 0, 64, func([]bus.Message) error { return nil }); err != nil || reached != 3000 {
		t.Errorf("Replay from the last message: reached %d, %v; want 3000, nil", reached, err)
	}
	if reached, err := b.Replay(ctx, name, nil, 3001, 0, 64, func([]bus.Message) error { return errors.New("called") }); err != nil || reached != 3000 {
		t.Errorf("Replay past the end: reached %d, %v; want 3000 (from-1), nil", reached, err)
	}
}

// TestReplayStopsAtTheFirstErrorOfFn returns, when fn fails, the position
// of the last message of the batches fn took, with fn's error.
func TestReplayStopsAtTheFirstErrorOfFn(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	name, prefix := newStream(t, b)
	publishN(t, b, prefix+".a", 0, 300)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	boom := errors.New("boom")
	calls := 0
	var lastTaken uint64
	reached, err := b.Replay(ctx, name, nil, 1, 0, 100, func(batch []bus.Message) error {
		calls++
		if calls == 2 {
			return boom
		}
		lastTaken = batch[len(batch)-1].Sequence
		return nil
	})
	if !errors.Is(err, boom) || reached != lastTaken || lastTaken == 0 {
		t.Fatalf("Replay: reached %d, %v; want %d (the first batch's last), boom", reached, err, lastTaken)
	}
}

func head(s []uint64) []uint64 { return s[:min(3, len(s))] }
func tail(s []uint64) []uint64 { return s[max(0, len(s)-3):] }
