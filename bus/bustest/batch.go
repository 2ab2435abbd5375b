package bustest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

// batchRecorder records what a batch handler was given and what it
// accepted. It is safe for concurrent use.
type batchRecorder struct {
	mu       sync.Mutex
	sizes    []int          // of every batch it was given
	accepted map[string]int // message id -> times accepted in a batch
}

func newBatchRecorder() *batchRecorder { return &batchRecorder{accepted: map[string]int{}} }

// handler runs fail on each batch; if fail returns nil, the batch's messages
// count as accepted.
func (r *batchRecorder) handler(fail func([]bus.Message) error) bus.BatchHandler {
	return func(ctx context.Context, ms []bus.Message) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.sizes = append(r.sizes, len(ms))
		if fail != nil {
			if err := fail(ms); err != nil {
				return err
			}
		}
		for _, m := range ms {
			r.accepted[m.ID]++
		}
		return nil
	}
}

func (r *batchRecorder) snapshot() (sizes []int, accepted map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.accepted {
		out[k] = v
	}
	return slices.Clone(r.sizes), out
}

// testBatchTakesWaitingMessagesTogether: a consumer that starts behind gets
// the waiting messages in batches of more than one, none over MaxBatch, each
// message accepted exactly once, each batch in stream order (batches may
// run at once and finish in any order), and nothing left for the handler.
func testBatchTakesWaitingMessagesTogether(t *testing.T, f Fixture) {
	const n = 200
	subject := f.Subject("a")
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("msg-%03d", i))
		publish(t, f, subject, ids[i], payload(ids[i]))
	}
	br := newBatchRecorder()
	var unordered [][]string // batches not in stream order
	var omu sync.Mutex
	c := consumer(f, "batcher")
	c.MaxBatch = 50
	c.Batch = br.handler(func(ms []bus.Message) error {
		ids := make([]string, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		if !slices.IsSorted(ids) {
			omu.Lock()
			unordered = append(unordered, ids)
			omu.Unlock()
		}
		return nil
	})
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(nil))
	eventually(t, wait, func() bool {
		_, accepted := br.snapshot()
		return len(accepted)+len(rec.all()) >= n
	}, func() string { return "not every message handled" })

	sizes, accepted := br.snapshot()
	if !slices.ContainsFunc(sizes, func(s int) bool { return s > 1 }) {
		t.Errorf("batch sizes %v: %d waiting messages never came more than one at a time", sizes, n)
	}
	if slices.ContainsFunc(sizes, func(s int) bool { return s > c.MaxBatch }) {
		t.Errorf("batch sizes %v exceed MaxBatch %d", sizes, c.MaxBatch)
	}
	for _, id := range ids {
		if accepted[id]+len(rec.byID(id)) != 1 {
			t.Errorf("message %s handled %d times in batches and %d alone, want once in all", id, accepted[id], len(rec.byID(id)))
		}
	}
	omu.Lock()
	defer omu.Unlock()
	for _, ids := range unordered {
		t.Errorf("a batch holds messages out of stream order: %v", ids)
	}
}

// testFailedBatchFallsBackToOneByOne: a batch that fails hands each of its
// messages to the handler alone; the one the handler cannot take either is
// dead-lettered after MaxDeliver attempts, and every other is handled once.
func testFailedBatchFallsBackToOneByOne(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("msg-%02d", i)
		if i == 17 {
			id = "poison"
		}
		ids = append(ids, id)
		publish(t, f, subject, id, payload(id))
	}
	c := consumer(f, "batcher")
	c.MaxDeliver = 2
	c.Backoff = []time.Duration{10 * time.Millisecond}
	br := newBatchRecorder()
	c.Batch = br.handler(func(ms []bus.Message) error {
		if slices.ContainsFunc(ms, func(m bus.Message) bool { return m.ID == "poison" }) {
			return fmt.Errorf("batch holds the poison message")
		}
		return nil
	})
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "poison" {
			return fmt.Errorf("cannot digest %s", m.ID)
		}
		return nil
	}))
	waitDeadLetters(t, f, c.Name, 1)
	flush(t, f, rec, subject)

	_, accepted := br.snapshot()
	for _, id := range ids {
		alone := 0
		for _, m := range rec.byID(id) {
			if m.Attempt == 1 || id == "poison" {
				alone++
			}
		}
		switch {
		case id == "poison" && (accepted[id] != 0 || alone != 2):
			t.Errorf("poison accepted %d times in batches and tried %d times alone, want 0 and 2 (MaxDeliver)", accepted[id], alone)
		case id != "poison" && accepted[id]+len(rec.byID(id)) != 1:
			t.Errorf("message %s handled %d times in batches and %d alone, want once in all", id, accepted[id], len(rec.byID(id)))
		}
	}
	if dl := deadLetters(t, f, c.Name); len(dl) != 1 || dl[0].ID != "poison" {
		t.Errorf("dead letters %v, want only the poison message", dl)
	}
}

// testStopWaitsForABatchInProgress: Stop returns only once the batch being
// handled has finished and been acknowledged, so a new subscription of the
// same consumer gets none of its messages again.
func testStopWaitsForABatchInProgress(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	for i := range 20 {
		id := fmt.Sprintf("msg-%02d", i)
		publish(t, f, subject, id, payload(id))
	}
	c := consumer(f, "batcher")
	started := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	br := newBatchRecorder()
	c.Batch = br.handler(func(ms []bus.Message) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	})
	rec := newRecorder()
	sub := subscribe(t, f, c, rec.handler(func(context.Context, bus.Message) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	}))
	select {
	case <-started:
	case <-time.After(wait):
		t.Fatal("no message was handled")
	}
	stopped := make(chan struct{})
	go func() { sub.stop(t); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a batch was still being handled")
	case <-time.After(200 * time.Millisecond): // a window in which Stop must not return
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("Stop did not return after the batch finished")
	}
	_, accepted := br.snapshot()
	handled := map[string]bool{}
	for id := range accepted {
		handled[id] = true
	}
	for _, m := range rec.all() {
		handled[m.ID] = true
	}
	again := newRecorder()
	subscribe(t, f, consumer(f, "batcher"), again.handler(nil))
	flush(t, f, again, subject)
	for _, m := range again.all() {
		if handled[m.ID] {
			t.Errorf("message %s handled before Stop returned was delivered again", m.ID)
		}
	}
}
