package jetstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// funnelAll publishes ids on subject through f, all at once, one goroutine
// each, and returns the position each was given.
func funnelAll(t *testing.T, f *Funnel, subject string, ids []string) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		seqs  = map[string]uint64{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			seq, err := f.Publish(ctx, subject, id, map[string]string{"Herald-Test": id}, []byte(id))
			if err != nil {
				t.Errorf("publish %s: %v", id, err)
				return
			}
			mu.Lock()
			seqs[id] = seq
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return seqs
}

// TestFunnelConcurrentPublishesStoredInBatchesEachAtItsPosition: callers
// publishing at once are stored as atomic batches, each caller told the
// position its own message has; a retried id inside a later batch makes
// the server refuse that batch, and its messages then go one by one, the
// retry answered with the position of the copy kept.
func TestFunnelConcurrentPublishesStoredInBatchesEachAtItsPosition(t *testing.T) {
	b, _ := startTestServer(t).dial(t)
	stream, prefix := newStream(t, b)
	f := b.NewFunnel()

	var ids []string
	for i := range 300 {
		ids = append(ids, fmt.Sprintf("f-%d", i))
	}
	seqs := funnelAll(t, f, prefix+".a", ids)
	stored, batches := readIDs(t, b, stream)
	if len(stored) != len(ids) {
		t.Fatalf("stream holds %d messages, want %d", len(stored), len(ids))
	}
	inBatch := 0
	for i, id := range stored {
		if seqs[id] != uint64(i+1) {
			t.Errorf("%s is at position %d, its publisher was told %d", id, i+1, seqs[id])
		}
		if batches[i] != "" {
			inBatch++
		}
	}
	if inBatch == 0 {
		t.Errorf("no message of 300 concurrent publishes came in an atomic batch")
	}
	t.Logf("%d of %d messages came in atomic batches", inBatch, len(ids))

	again := append([]string{"f-7", "f-8"}, "g-1", "g-2", "g-3", "g-4")
	seqs2 := funnelAll(t, f, prefix+".a", again)
	if seqs2["f-7"] != seqs["f-7"] || seqs2["f-8"] != seqs["f-8"] {
		t.Errorf("retried f-7, f-8 told %d, %d; kept at %d, %d", seqs2["f-7"], seqs2["f-8"], seqs["f-7"], seqs["f-8"])
	}
	stored, _ = readIDs(t, b, stream)
	if len(stored) != len(ids)+4 {
		t.Fatalf("stream holds %d messages, want %d: each id once", len(stored), len(ids)+4)
	}
	for _, id := range again[2:] {
		if got := stored[seqs2[id]-1]; got != id {
			t.Errorf("%s was told position %d, which holds %s", id, seqs2[id], got)
		}
	}
}

// TestFunnelToAStreamWithoutAtomicBatchesSendsEachAlone: a stream made
// without atomic batches still gets every message, each at the position
// its publisher was told.
func TestFunnelToAStreamWithoutAtomicBatchesSendsEachAlone(t *testing.T) {
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
	var ids []string
	for i := range 50 {
		ids = append(ids, fmt.Sprintf("p-%d", i))
	}
	seqs := funnelAll(t, b.NewFunnel(), "plain.x", ids)
	stored, batches := readIDs(t, b, "PLAIN")
	if len(stored) != len(ids) {
		t.Fatalf("PLAIN holds %d messages, want %d", len(stored), len(ids))
	}
	for i, id := range stored {
		if seqs[id] != uint64(i+1) || batches[i] != "" {
			t.Errorf("%s at %d in batch %q, its publisher told %d; want each alone", id, i+1, batches[i], seqs[id])
		}
	}
}
