// Package bustest is the conformance suite every bus.Bus implementation must
// pass, in the manner of Watermill's universal Pub/Sub tests. An
// implementation's tests call Run with a function that builds a fresh
// Fixture for each subtest:
//
//	func TestBus(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bustest.Fixture { ... })
//	}
//
// The suite talks to the bus only through the bus.Bus interface. It waits by
// polling with a deadline or on channels, never by sleeping; the only fixed
// durations are the behaviour under test (a handler slower than its AckWait)
// and short windows that check something does not happen.
package bustest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
)

// Fixture is what one subtest runs against.
type Fixture struct {
	// Bus is a bus whose stream Stream exists, empty, and is used by no other
	// subtest.
	Bus bus.Bus
	// Stream is the name of the stream to consume, as in bus.Consumer.Stream.
	Stream string
	// Subject returns a subject inside Stream for suffix, a dot-free token
	// such as "a". Different suffixes give different subjects.
	Subject func(suffix string) string
	// Restart, if not nil, stops the bus's server and starts it again with the
	// same storage and address, and returns once it accepts connections. The
	// Bus must reconnect by itself. Nil skips the tests that need it.
	Restart func(t *testing.T)
	// Sent, if not nil, returns how many messages the bus's server has sent
	// to the Bus's subscriptions so far, counted where a subscription that
	// closes afterwards still gets them. A test that stops a subscription
	// waits on it first, so that nothing is on its way to the subscription
	// as it closes. Nil skips those tests.
	Sent func(t *testing.T) uint64
}

// wait is how long the suite waits for something that should happen. It is
// generous: the suite runs on slow, shared machines, under -race.
const wait = 30 * time.Second

// Run runs the conformance suite. newFixture is called once per subtest and
// should register its own cleanup with t.Cleanup.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	tests := []struct {
		name string
		run  func(t *testing.T, f Fixture)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"DuplicatePublishIsDropped", testDuplicatePublishIsDropped},
		{"ResendOnError", testResendOnError},
		{"NoAckMeansRedelivery", testNoAckMeansRedelivery},
		{"DeadLetterAfterMaxDeliverAndContinue", testDeadLetterAfterMaxDeliverAndContinue},
		{"PanicIsRecoveredAndDeadLettered", testPanicIsRecoveredAndDeadLettered},
		{"HandlerTimingOutEveryAttemptIsDeadLettered", testHandlerTimingOutIsDeadLettered},
		{"ContinueAfterStop", testContinueAfterStop},
		{"FromStartReplaysAcknowledgedMessages", testFromStartReplays},
		{"StopDrainsInFlight", testStopDrainsInFlight},
		{"NewConsumerReplaysHistory", testNewConsumerReplaysHistory},
		{"ReconnectAfterServerRestart", testReconnectAfterServerRestart},
		{"SubjectFilter", testSubjectFilter},
		{"LagCountsUnacknowledgedMessages", testLagCountsUnacknowledged},
		{"OrderedConsumerHoldsBackMessagesBehindAFailure", testOrderedHoldsBack},
		{"StartSeqSkipsEarlierMessagesOfANewConsumer", testStartSeq},
		{"BatchTakesWaitingMessagesTogether", testBatchTakesWaitingMessagesTogether},
		{"FailedBatchFallsBackToOneByOne", testFailedBatchFallsBackToOneByOne},
		{"StopWaitsForABatchInProgress", testStopWaitsForABatchInProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.run(t, f)
		})
	}
}

func testPublishSubscribe(t *testing.T, f Fixture) {
	const n = 50
	subject := f.Subject("a")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("msg-%d", i)
		publish(t, f, subject, ids[i], payload(ids[i]))
	}
	rec := newRecorder()
	subscribe(t, f, consumer(f, "worker"), rec.handler(nil))

	rec.waitForAll(t, ids...)
	flush(t, f, rec, subject)

	for _, id := range ids {
		got := rec.byID(id)
		if len(got) != 1 {
			t.Errorf("message %s delivered %d times, want once", id, len(got))
			continue
		}
		m := got[0]
		if m.Subject != subject || string(m.Data) != string(payload(id)) || m.Attempt != 1 {
			t.Errorf("message %s delivered as subject %q, data %q, attempt %d; want %q, %q, 1",
				id, m.Subject, m.Data, m.Attempt, subject, payload(id))
		}
	}
	if seqs := rec.sequences(ids...); !slices.IsSorted(seqs) {
		t.Errorf("stream sequences out of order: %v", seqs)
	}
}

func testDuplicatePublishIsDropped(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	publish(t, f, subject, "dup", []byte("first"))
	publish(t, f, subject, "dup", []byte("second"))
	publish(t, f, subject, "other", []byte("other"))
	rec := newRecorder()
	subscribe(t, f, consumer(f, "worker"), rec.handler(nil))

	rec.waitForAll(t, "dup", "other")
	flush(t, f, rec, subject)

	got := rec.byID("dup")
	if len(got) != 1 {
		t.Fatalf("message published twice with one id delivered %d times, want once", len(got))
	}
	if string(got[0].Data) != "first" {
		t.Errorf("delivered %q, want the first publish's payload %q", got[0].Data, "first")
	}
}

func testResendOnError(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	publish(t, f, subject, "flaky", payload("flaky"))
	publish(t, f, subject, "fine", payload("fine"))
	c := consumer(f, "worker")
	c.Backoff = []time.Duration{10 * time.Millisecond}
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "flaky" && m.Attempt == 1 {
			return fmt.Errorf("first attempt fails")
		}
		return nil
	}))

	rec.waitFor(t, func() bool { return len(rec.byID("flaky")) >= 2 && len(rec.byID("fine")) >= 1 })
	flush(t, f, rec, subject)
	// The redelivery came after a 10ms backoff; give a wrong third one time
	// to show up.
	rec.never(t, 500*time.Millisecond, func() bool { return len(rec.byID("flaky")) > 2 })

	got := rec.byID("flaky")
	if len(got) != 2 || got[0].Attempt != 1 || got[1].Attempt != 2 {
		t.Fatalf("failing message delivered as attempts %v, want [1 2]", attempts(got))
	}
	if got[1].Subject != subject || string(got[1].Data) != string(payload("flaky")) {
		t.Errorf("redelivery has subject %q, data %q; want %q, %q", got[1].Subject, got[1].Data, subject, payload("flaky"))
	}
	if n := len(rec.byID("fine")); n != 1 {
		t.Errorf("healthy message delivered %d times, want once", n)
	}
	if dl := deadLetters(t, f, c.Name); len(dl) != 0 {
		t.Errorf("dead letters = %v, want none", dl)
	}
}

func testNoAckMeansRedelivery(t *testing.T, f Fixture) {
	const ackWait = time.Second
	subject := f.Subject("a")
	publish(t, f, subject, "slow", payload("slow"))
	c := consumer(f, "worker")
	c.AckWait = ackWait
	c.Backoff = []time.Duration{10 * time.Millisecond}
	release := make(chan struct{})
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.Attempt == 1 {
			// Run past AckWait without acknowledging: the bus must give up
			// on this delivery and deliver the message again. The handler
			// then succeeds, which is when a serial bus hands over the
			// redelivery.
			select {
			case <-time.After(3 * ackWait):
			case <-release:
			}
		}
		return nil
	}))
	t.Cleanup(func() { close(release) }) // runs before the subscription stops

	rec.waitFor(t, func() bool {
		for _, m := range rec.byID("slow") {
			if m.Attempt == 2 {
				return true
			}
		}
		return false
	})
	for _, m := range rec.byID("slow") {
		if m.Subject != subject || string(m.Data) != string(payload("slow")) {
			t.Errorf("attempt %d has subject %q, data %q; want %q, %q", m.Attempt, m.Subject, m.Data, subject, payload("slow"))
		}
	}
}

func testDeadLetterAfterMaxDeliverAndContinue(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	publish(t, f, subject, "poison", payload("poison"))
	later := []string{"ok-1", "ok-2", "ok-3", "ok-4", "ok-5"}
	for _, id := range later {
		publish(t, f, subject, id, payload(id))
	}
	c := consumer(f, "worker")
	c.MaxDeliver = 3
	c.Backoff = []time.Duration{10 * time.Millisecond}
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "poison" {
			return fmt.Errorf("cannot digest %s on attempt %d", m.ID, m.Attempt)
		}
		return nil
	}))

	rec.waitForAll(t, later...)
	dl := waitDeadLetters(t, f, c.Name, 1)
	d := dl[0]
	if d.ID != "poison" || d.Subject != subject || string(d.Data) != string(payload("poison")) {
		t.Errorf("dead letter is id %q, subject %q, data %q; want %q, %q, %q", d.ID, d.Subject, d.Data, "poison", subject, payload("poison"))
	}
	if d.Consumer != c.Name || d.Stream != f.Stream || d.Sequence == 0 {
		t.Errorf("dead letter names consumer %q, stream %q, sequence %d; want %q, %q, > 0", d.Consumer, d.Stream, d.Sequence, c.Name, f.Stream)
	}
	if want := "cannot digest poison on attempt 3"; !strings.Contains(d.Error, want) {
		t.Errorf("dead letter error = %q, want it to contain %q", d.Error, want)
	}
	if d.Attempts != 3 {
		t.Errorf("dead letter attempts = %d, want 3", d.Attempts)
	}
	if d.FailedAt.IsZero() {
		t.Error("dead letter has no FailedAt")
	}

	flush(t, f, rec, subject)
	if got := attempts(rec.byID("poison")); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("poison message tried as attempts %v, want [1 2 3]", got)
	}
	for _, id := range later {
		if n := len(rec.byID(id)); n != 1 {
			t.Errorf("message %s after the poison one delivered %d times, want once", id, n)
		}
	}
	if dl := deadLetters(t, f, c.Name); len(dl) != 1 {
		t.Errorf("%d dead letters, want 1", len(dl))
	}
}

func testPanicIsRecoveredAndDeadLettered(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	ids := []string{"ok-1", "boom", "ok-2", "ok-3"}
	for _, id := range ids {
		publish(t, f, subject, id, payload(id))
	}
	c := consumer(f, "worker")
	c.MaxDeliver = 2
	c.Backoff = []time.Duration{10 * time.Millisecond}
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "boom" {
			panic("handler exploded on " + m.ID)
		}
		return nil
	}))

	rec.waitForAll(t, "ok-1", "ok-2", "ok-3")
	dl := waitDeadLetters(t, f, c.Name, 1)
	if dl[0].ID != "boom" || dl[0].Attempts != 2 {
		t.Errorf("dead letter is %q after %d attempts, want %q after 2", dl[0].ID, dl[0].Attempts, "boom")
	}
	if want := "handler exploded on boom"; !strings.Contains(dl[0].Error, want) {
		t.Errorf("dead letter error = %q, want it to contain the panic value %q", dl[0].Error, want)
	}
	// The subscription survived the panics: it still delivers.
	flush(t, f, rec, subject)
	if got := attempts(rec.byID("boom")); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("panicking message tried as attempts %v, want [1 2]", got)
	}
}

func testHandlerTimingOutIsDeadLettered(t *testing.T, f Fixture) {
	const ackWait = time.Second
	subject := f.Subject("a")
	publish(t, f, subject, "hang", payload("hang"))
	c := consumer(f, "worker")
	c.MaxDeliver = 2
	c.AckWait = ackWait
	c.Backoff = []time.Duration{10 * time.Millisecond}
	release := make(chan struct{})
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(ctx context.Context, m bus.Message) error {
		if m.ID != "hang" {
			return nil
		}
		// Wait on a dependency that never answers, until the bus's context
		// gives up (or, for a bus without handler deadlines, past AckWait).
		select {
		case <-ctx.Done():
		case <-time.After(2 * ackWait):
		case <-release:
		}
		return fmt.Errorf("dependency timed out")
	}))
	t.Cleanup(func() { close(release) })

	dl := waitDeadLetters(t, f, c.Name, 1)
	if dl[0].ID != "hang" || !strings.Contains(dl[0].Error, "dependency timed out") {
		t.Errorf("dead letter is %q with error %q, want %q with %q", dl[0].ID, dl[0].Error, "hang", "dependency timed out")
	}
	if dl[0].Attempts < c.MaxDeliver {
		t.Errorf("dead-lettered after %d attempts, want at least %d", dl[0].Attempts, c.MaxDeliver)
	}
}

func testContinueAfterStop(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	c := consumer(f, "worker")
	var first, second []string
	for i := range 10 {
		first = append(first, fmt.Sprintf("first-%d", i))
		second = append(second, fmt.Sprintf("second-%d", i))
	}
	for _, id := range first {
		publish(t, f, subject, id, payload(id))
	}
	rec1 := newRecorder()
	sub1 := subscribe(t, f, c, rec1.handler(nil))
	rec1.waitForAll(t, first...)
	sub1.stop(t)

	for _, id := range second {
		publish(t, f, subject, id, payload(id))
	}
	rec2 := newRecorder()
	subscribe(t, f, c, rec2.handler(nil))
	rec2.waitForAll(t, second...)
	flush(t, f, rec2, subject)

	for _, id := range first {
		if n := len(rec2.byID(id)); n != 0 {
			t.Errorf("message %s, acknowledged before Stop, delivered %d more times after resubscribing", id, n)
		}
	}
	for _, id := range second {
		if n := len(rec2.byID(id)); n != 1 {
			t.Errorf("message %s, published after Stop, delivered %d times, want once", id, n)
		}
	}
}

func testFromStartReplays(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	c := consumer(f, "worker")
	ids := []string{"m-1", "m-2", "m-3"}
	for _, id := range ids {
		publish(t, f, subject, id, payload(id))
	}
	rec1 := newRecorder()
	sub1 := subscribe(t, f, c, rec1.handler(nil))
	rec1.waitForAll(t, ids...)
	sub1.stop(t)

	// Same name, but the consumer's store was lost: start over.
	c.FromStart = true
	rec2 := newRecorder()
	subscribe(t, f, c, rec2.handler(nil))
	rec2.waitForAll(t, ids...)
	if got := rec2.ids()[:len(ids)]; !slices.Equal(got, ids) {
		t.Errorf("FromStart consumer received %v, want the whole history in order %v", got, ids)
	}
}

func testStopDrainsInFlight(t *testing.T, f Fixture) {
	if f.Sent == nil {
		t.Skip("the fixture cannot tell how many messages the server has sent (Fixture.Sent)")
	}
	// AckWait is short so that a message Stop failed to acknowledge comes
	// back quickly, but long enough that the handler below finishes in time.
	const ackWait = 3 * time.Second
	subject := f.Subject("a")
	c := consumer(f, "worker")
	c.AckWait = ackWait
	ids := []string{"inflight", "buffered-1", "buffered-2", "buffered-3"}
	for _, id := range ids {
		publish(t, f, subject, id, payload(id))
	}

	started := make(chan struct{})
	release := make(chan struct{})
	finished := make(chan struct{})
	rec := newRecorder()
	sub := subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "inflight" && m.Attempt == 1 {
			close(started)
			<-release
			close(finished)
		}
		return nil
	}))
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseOnce)

	receive(t, started, "the handler to start")
	// Stop only once the server has sent every message: a message it sends
	// while the subscription closes is not lost but goes nowhere, and comes
	// back only after AckWait (JetStream marks it pending as it sends it,
	// see nats-io/nats.go#898). The promise tested here is that Drain
	// handles what reached the subscription.
	eventually(t, wait, func() bool { return f.Sent(t) >= uint64(len(ids)) },
		func() string { return fmt.Sprintf("the server sent %d of %d messages", f.Sent(t), len(ids)) })
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		stopped <- sub.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (err %v) while a handler was still running", err)
	case <-time.After(300 * time.Millisecond):
	}
	releaseOnce()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Stop did not return after the in-flight handler finished")
	}
	sub.stopped = true
	select {
	case <-finished:
	default:
		t.Fatal("Stop returned before the in-flight handler finished")
	}

	// Whatever the first subscription received was handled and acknowledged
	// before Stop returned: the next subscription under the same name gets
	// the rest and new messages, but nothing again, even after AckWait.
	publish(t, f, subject, "next", payload("next"))
	rec2 := newRecorder()
	subscribe(t, f, c, rec2.handler(nil))
	rec2.waitForAll(t, "next")
	rec2.never(t, ackWait+time.Second, func() bool {
		for _, m := range rec2.all() {
			if m.Attempt > 1 || len(rec.byID(m.ID)) > 0 {
				return true
			}
		}
		return false
	})
	for _, id := range ids {
		if n := len(rec.byID(id)) + len(rec2.byID(id)); n != 1 {
			t.Errorf("message %s delivered %d times in all, want once", id, n)
		}
	}
}

func testNewConsumerReplaysHistory(t *testing.T, f Fixture) {
	const n = 20
	subject := f.Subject("a")
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("msg-%d", i))
		publish(t, f, subject, ids[i], payload(ids[i]))
	}
	old := newRecorder()
	subscribe(t, f, consumer(f, "old"), old.handler(nil))
	old.waitForAll(t, ids...)

	fresh := newRecorder()
	subscribe(t, f, consumer(f, "fresh"), fresh.handler(nil))
	fresh.waitForAll(t, ids...)
	got := fresh.ids()[:n]
	if !slices.Equal(got, ids) {
		t.Errorf("new consumer received %v, want the whole history in order %v", got, ids)
	}
}

func testReconnectAfterServerRestart(t *testing.T, f Fixture) {
	if f.Restart == nil {
		t.Skip("the fixture cannot restart the bus's server (Fixture.Restart is nil)")
	}
	subject := f.Subject("a")
	var before, after []string
	for i := range 5 {
		before = append(before, fmt.Sprintf("before-%d", i))
		after = append(after, fmt.Sprintf("after-%d", i))
	}
	for _, id := range before {
		publish(t, f, subject, id, payload(id))
	}
	rec := newRecorder()
	subscribe(t, f, consumer(f, "worker"), rec.handler(nil))
	rec.waitForAll(t, before...)

	f.Restart(t)

	for _, id := range after {
		publishRetrying(t, f, subject, id, payload(id))
	}
	// The subscription made before the restart keeps going. Delivery is at
	// least once, so an ack lost in the restart may repeat a message.
	rec.waitForAll(t, after...)

	// The stream kept what was published before the restart.
	replay := newRecorder()
	subscribe(t, f, consumer(f, "replay"), replay.handler(nil))
	all := append(slices.Clone(before), after...)
	replay.waitForAll(t, all...)
	if got := replay.ids()[:len(all)]; !slices.Equal(got, all) {
		t.Errorf("after the restart the stream holds %v, want %v", got, all)
	}
}

func testSubjectFilter(t *testing.T, f Fixture) {
	a, b := f.Subject("a"), f.Subject("b")
	var wantA []string
	for i := range 10 {
		id := fmt.Sprintf("a-%d", i)
		wantA = append(wantA, id)
		publish(t, f, a, id, payload(id))
		publish(t, f, b, fmt.Sprintf("b-%d", i), payload("b"))
	}
	c := consumer(f, "only-a")
	c.Subjects = []string{a}
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(nil))

	rec.waitForAll(t, wantA...)
	publish(t, f, b, "b-last", payload("b"))
	flush(t, f, rec, a)

	for _, m := range rec.all() {
		if m.Subject != a {
			t.Errorf("consumer filtered on %s received %s on %s", a, m.ID, m.Subject)
		}
	}
	if got := rec.ids()[:len(wantA)]; !slices.Equal(got, wantA) {
		t.Errorf("received %v, want %v", got, wantA)
	}

	all := newRecorder()
	subscribe(t, f, consumer(f, "all"), all.handler(nil))
	all.waitForAll(t, "a-9", "b-9", "b-last")
}

func testLagCountsUnacknowledged(t *testing.T, f Fixture) {
	const n = 10
	subject := f.Subject("lag")
	release := make(chan struct{})
	rec := newRecorder()
	sub := subscribe(t, f, consumer(f, "lagging"), rec.handler(func(ctx context.Context, m bus.Message) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	for i := range n {
		publish(t, f, subject, fmt.Sprintf("lag-%d", i), payload("lag"))
	}
	lag := func() uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		l, err := sub.Lag(ctx)
		if err != nil {
			t.Fatalf("lag: %v", err)
		}
		return l
	}
	eventually(t, wait, func() bool { return lag() == n }, func() string { return fmt.Sprintf("lag %d while all %d are unhandled, want %d", lag(), n, n) })
	close(release)
	eventually(t, wait, func() bool { return lag() == 0 }, func() string { return fmt.Sprintf("lag %d after every message was handled, want 0", lag()) })
}

func testOrderedHoldsBack(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	for _, id := range []string{"m1", "m2", "m3", "m4"} {
		publish(t, f, subject, id, payload(id))
	}
	c := consumer(f, "ordered")
	c.Ordered = true
	c.MaxDeliver = 100
	c.Backoff = []time.Duration{20 * time.Millisecond}
	rec := newRecorder()
	subscribe(t, f, c, rec.handler(func(_ context.Context, m bus.Message) error {
		if m.ID == "m2" && m.Attempt < 4 {
			return fmt.Errorf("m2 fails its first three attempts")
		}
		return nil
	}))
	rec.waitForAll(t, "m1", "m2", "m3", "m4")
	// Every delivery, retries included, is in stream order: nothing behind
	// m2 was delivered while m2 was failing.
	var got []string
	for _, m := range rec.all() {
		got = append(got, m.ID)
	}
	want := []string{"m1", "m2", "m2", "m2", "m2", "m3", "m4"}
	if !slices.Equal(got, want) {
		t.Fatalf("ordered consumer delivered %v, want %v", got, want)
	}
}

func testStartSeq(t *testing.T, f Fixture) {
	subject := f.Subject("a")
	publish(t, f, subject, "old1", payload("old1"))
	publish(t, f, subject, "old2", payload("old2"))
	// Find old2's position through a throwaway consumer.
	probe := newRecorder()
	s := subscribe(t, f, consumer(f, "probe"), probe.handler(func(context.Context, bus.Message) error { return nil }))
	probe.waitForAll(t, "old1", "old2")
	s.stop(t)
	last := probe.sequences("old2")[0]
	publish(t, f, subject, "new1", payload("new1"))

	c := consumer(f, "late")
	c.StartSeq = last + 1
	rec := newRecorder()
	s = subscribe(t, f, c, rec.handler(func(context.Context, bus.Message) error { return nil }))
	rec.waitForAll(t, "new1")
	flush(t, f, rec, subject)
	if ids := rec.ids(); slices.Contains(ids, "old1") || slices.Contains(ids, "old2") {
		t.Fatalf("consumer starting at %d received %v, want nothing before new1", c.StartSeq, ids)
	}
	// Resuming the consumer with another StartSeq does not move it.
	s.stop(t)
	publish(t, f, subject, "new2", payload("new2"))
	c.StartSeq = 1
	rec2 := newRecorder()
	rec2.flushes = rec.flushes // flush ids must not repeat: the bus drops them
	subscribe(t, f, c, rec2.handler(func(context.Context, bus.Message) error { return nil }))
	rec2.waitForAll(t, "new2")
	flush(t, f, rec2, subject)
	if ids := rec2.ids(); slices.Contains(ids, "old1") || slices.Contains(ids, "new1") {
		t.Fatalf("resumed consumer received %v, want only what came after new1", ids)
	}
}
