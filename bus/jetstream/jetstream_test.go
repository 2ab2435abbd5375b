package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/bustest"
)

// TestBusConformance runs the bus conformance suite against JetStream, each
// subtest with its own embedded server reached over TCP, so that a restart
// exercises the client's reconnect.
func TestBusConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Fixture {
		ts := startTestServer(t)
		b, _ := ts.dial(t)
		stream, prefix := newStream(t, b)
		return bustest.Fixture{
			Bus:     b,
			Stream:  stream,
			Subject: func(suffix string) string { return prefix + "." + suffix },
			Restart: ts.restart,
			Sent: func(t *testing.T) uint64 {
				t.Helper()
				return sentToPullSubscriptions(t, ts.srv.ns)
			},
		}
	})
}

func TestDeadLetterRecordsConsumerSequenceAndError(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	subject := prefix + ".orders"
	publishN(t, b, subject, 0, 3) // stream sequences 1, 2, 3
	poison := subject + "-1"      // sequence 2

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := bus.Consumer{Name: "billing", Stream: stream, MaxDeliver: 2, Backoff: []time.Duration{10 * time.Millisecond}}
	sub, err := b.Subscribe(ctx, c, func(_ context.Context, m bus.Message) error {
		if m.ID == poison {
			return fmt.Errorf("card declined for %s", m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })

	var stored []Stored
	eventually(t, 30*time.Second, func() bool {
		stored, err = b.Read(ctx, DLQStream, []string{"dlq.billing"}, 0, 0)
		if err != nil {
			t.Fatalf("read %s: %v", DLQStream, err)
		}
		return len(stored) > 0
	}, "no dead letter for billing")
	if len(stored) != 1 {
		t.Fatalf("%d dead letters, want 1", len(stored))
	}
	s := stored[0]
	if s.Subject != "dlq.billing" || string(s.Data) != poison {
		t.Errorf("dead letter on %q with data %q, want on %q with the original data %q", s.Subject, s.Data, "dlq.billing", poison)
	}
	h := headerGetter(s.Header)
	for key, want := range map[string]string{
		HeaderConsumer: "billing",
		HeaderStream:   stream,
		HeaderSequence: "2",
		HeaderSubject:  subject,
		HeaderMsgID:    poison,
		HeaderError:    "card declined for " + poison,
		HeaderAttempts: "2",
	} {
		if got := h(key); got != want {
			t.Errorf("header %s = %q, want %q", key, got, want)
		}
	}
	failedAt, err := time.Parse(time.RFC3339Nano, h(HeaderFailedAt))
	if err != nil || time.Since(failedAt) > time.Minute || time.Since(failedAt) < 0 {
		t.Errorf("header %s = %q, want the recent time of failure", HeaderFailedAt, h(HeaderFailedAt))
	}

	dl, err := b.DeadLetters(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	want := bus.DeadLetter{
		Consumer: "billing", Stream: stream, Sequence: 2, Subject: subject, ID: poison,
		Data: []byte(poison), Error: "card declined for " + poison, Attempts: 2, FailedAt: failedAt,
	}
	if len(dl) != 1 || !sameDeadLetter(dl[0], want) {
		t.Errorf("DeadLetters(billing) = %+v, want [%+v]", dl, want)
	}
	if dl, err := b.DeadLetters(ctx, "shipping"); err != nil || len(dl) != 0 {
		t.Errorf("DeadLetters(shipping) = %v, %v; want none", dl, err)
	}
	if dl, err := b.DeadLetters(ctx, ""); err != nil || len(dl) != 1 {
		t.Errorf("DeadLetters(\"\") = %v, %v; want every consumer's one dead letter", dl, err)
	}
}

func sameDeadLetter(a, b bus.DeadLetter) bool {
	return a.Consumer == b.Consumer && a.Stream == b.Stream && a.Sequence == b.Sequence &&
		a.Subject == b.Subject && a.ID == b.ID && string(a.Data) == string(b.Data) &&
		a.Error == b.Error && a.Attempts == b.Attempts && a.FailedAt.Equal(b.FailedAt)
}

// A panic's error carries a multi-line stack trace; the dead letter must keep
// it readable and must not break the message's headers.
func TestDeadLetterKeepsMultiLineAndLongErrors(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	publishN(t, b, prefix+".a", 0, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	long := strings.Repeat("é", 5000) // 10000 bytes, 2 per rune
	c := bus.Consumer{Name: "w", Stream: stream, MaxDeliver: 1}
	sub, err := b.Subscribe(ctx, c, func(_ context.Context, m bus.Message) error {
		switch m.ID {
		case prefix + ".a-0":
			return errors.New("first line\nsecond line\r\nthird line")
		default:
			return errors.New("x" + long)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })

	var dl []bus.DeadLetter
	eventually(t, 30*time.Second, func() bool {
		dl, err = b.DeadLetters(ctx, "w")
		if err != nil {
			t.Fatalf("dead letters: %v", err)
		}
		return len(dl) == 2
	}, "want 2 dead letters")
	for _, d := range dl {
		if d.Consumer != "w" || d.Stream != stream || d.Attempts != 1 || d.Sequence == 0 {
			t.Errorf("dead letter %s lost its headers: %+v", d.ID, d)
		}
	}
	if got := dl[0].Error; !strings.Contains(got, "first line") || !strings.Contains(got, "second line") || !strings.Contains(got, "third line") {
		t.Errorf("multi-line error recorded as %q, want all three lines", got)
	}
	got := dl[1].Error
	if len(got) > 4096 || len(got) < 4000 || !strings.HasPrefix(got, "xé") {
		t.Errorf("long error recorded as %d bytes starting %.10q, want it cut to at most 4096 bytes", len(got), got)
	}
	if !strings.HasSuffix(got, "é") {
		t.Errorf("long error cut inside a character: ends %q", got[len(got)-4:])
	}
}

func TestReadReturnsHistoryInOrderWithPaging(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if got, err := b.Read(ctx, stream, nil, 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("Read of an empty stream = %d messages, %v; want none", len(got), err)
	}

	// 300 messages: more than one internal fetch of 256.
	const n = 300
	a, bb := prefix+".a", prefix+".b"
	subjectOf := func(i int) string {
		if i%3 == 0 {
			return bb
		}
		return a
	}
	for i := range n {
		id := "m" + strconv.Itoa(i+1)
		if err := b.Publish(ctx, subjectOf(i), id, []byte(id)); err != nil {
			t.Fatal(err)
		}
	}

	all, err := b.Read(ctx, stream, nil, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("Read returned %d messages, want %d", len(all), n)
	}
	for i, m := range all {
		want := "m" + strconv.Itoa(i+1)
		if m.Sequence != uint64(i+1) || m.Subject != subjectOf(i) || string(m.Data) != want || m.Time.IsZero() {
			t.Fatalf("message %d is seq %d on %s with %q, want seq %d on %s with %q and a time",
				i, m.Sequence, m.Subject, m.Data, i+1, subjectOf(i), want)
		}
		if id := headerGetter(m.Header)("Nats-Msg-Id"); id != want {
			t.Fatalf("message %d has Nats-Msg-Id %q, want %q", i, id, want)
		}
	}

	// Paging from the last sequence seen gives the same history.
	var paged []Stored
	for from := uint64(1); ; {
		page, err := b.Read(ctx, stream, nil, from, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 64 {
			t.Fatalf("page from %d has %d messages, over the limit of 64", from, len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		from = page[len(page)-1].Sequence + 1
	}
	if len(paged) != n {
		t.Fatalf("paging returned %d messages, want %d", len(paged), n)
	}
	for i := range paged {
		if paged[i].Sequence != all[i].Sequence {
			t.Fatalf("paged message %d is seq %d, want %d", i, paged[i].Sequence, all[i].Sequence)
		}
	}

	page, err := b.Read(ctx, stream, nil, 101, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 50 || page[0].Sequence != 101 || page[49].Sequence != 150 {
		t.Errorf("Read(from 101, limit 50) = %d messages %s, want seqs 101..150", len(page), seqRange(page))
	}

	onlyB, err := b.Read(ctx, stream, []string{bb}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(onlyB) != n/3 {
		t.Errorf("Read filtered on %s returned %d messages, want %d", bb, len(onlyB), n/3)
	}
	for i, m := range onlyB {
		if m.Subject != bb || m.Sequence != uint64(3*i+1) {
			t.Fatalf("filtered message %d is seq %d on %s, want seq %d on %s", i, m.Sequence, m.Subject, 3*i+1, bb)
		}
	}

	if got, err := b.Read(ctx, stream, nil, n+1, 0); err != nil || len(got) != 0 {
		t.Errorf("Read from past the end = %d messages, %v; want none", len(got), err)
	}
	if _, err := b.Read(ctx, "NOPE", nil, 0, 0); err == nil {
		t.Error("Read of a missing stream succeeded, want an error")
	}
}

func seqRange(ms []Stored) string {
	if len(ms) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", ms[0].Sequence, ms[len(ms)-1].Sequence)
}

func TestEmbeddedServerWithoutListenerServesInProcess(t *testing.T) {
	srv, err := StartServer(ServerConfig{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if u := srv.ClientURL(); u != "" {
		t.Errorf("ClientURL = %q, want none without a listener", u)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b, err := New(nc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stream, prefix := newStream(t, b)
	publishN(t, b, prefix+".a", 0, 3)
	got, err := b.Read(context.Background(), stream, nil, 0, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("Read = %d messages, %v; want 3", len(got), err)
	}
}

func TestStartServerRefusesATakenPort(t *testing.T) {
	ts := startTestServer(t)
	if _, err := StartServer(ServerConfig{Dir: t.TempDir(), Listen: ts.addr}); err == nil {
		t.Fatalf("second server on %s started, want an error", ts.addr)
	}
}

// A consumer that is behind hands the next batch to its batch handler
// while the one before is still running, so that preparing one batch and
// committing the other overlap (batchesInFlight). A handler that takes one
// batch at a time would never see the second call while the first waits.
func TestNextBatchStartsWhileOneIsStillRunning(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	subject := prefix + ".orders"
	publishN(t, b, subject, 0, 40)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan struct{})
	overlapped := make(chan struct{})
	var calls, running, maxRunning atomic.Int32
	c := bus.Consumer{Name: "projector", Stream: stream, MaxBatch: 10,
		Batch: func(_ context.Context, ms []bus.Message) error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := maxRunning.Load(); n > m && !maxRunning.CompareAndSwap(m, n); m = maxRunning.Load() {
			}
			switch calls.Add(1) {
			case 1:
				close(first)
				select { // hold the first batch until another one starts
				case <-overlapped:
				case <-time.After(10 * time.Second):
				}
			case 2:
				close(overlapped)
			}
			return nil
		}}
	sub, err := b.Subscribe(ctx, c, func(context.Context, bus.Message) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })
	<-first
	select {
	case <-overlapped:
	case <-time.After(10 * time.Second):
		t.Fatal("no second batch started while the first was still running")
	}
	eventually(t, 20*time.Second, func() bool {
		lag, err := sub.Lag(ctx)
		return err == nil && lag == 0
	}, "the consumer never caught up")
	if m := maxRunning.Load(); m > batchesInFlight {
		t.Errorf("%d batches ran at once, want at most %d", m, batchesInFlight)
	}
}

// While a batching consumer's batches are committing, the server keeps
// delivering: the messages it may hold unacknowledged cover the batches
// in flight and several full batches behind them, so a consumer that is
// behind finds full batches waiting instead of a trickle (see
// maxAckPending).
func TestBatchingConsumerHoldsFullBatchesWhileBatchesRun(t *testing.T) {
	ts := startTestServer(t)
	b, _ := ts.dial(t)
	stream, prefix := newStream(t, b)
	subject := prefix + ".orders"
	const maxBatch = 256
	publishN(t, b, subject, 0, 6*maxBatch)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	release := make(chan struct{})
	c := bus.Consumer{Name: "projector", Stream: stream, MaxBatch: maxBatch,
		Batch: func(ctx context.Context, ms []bus.Message) error {
			select { // hold every batch until the test has looked
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}}
	sub, err := b.Subscribe(ctx, c, func(context.Context, bus.Message) error { <-release; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Stop(context.Background()) })
	defer close(release)
	cons, err := b.js.Consumer(ctx, stream, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	want := 4 * maxBatch
	held := 0
	for deadline := time.Now().Add(20 * time.Second); held < want; time.Sleep(20 * time.Millisecond) {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = info.NumAckPending
		if time.Now().After(deadline) {
			t.Fatalf("with its batches held, the consumer got %d messages from the server, want at least %d (%d batches of %d)", held, want, want/maxBatch, maxBatch)
		}
	}
}

// sentToPullSubscriptions returns how many messages ns has handed to its
// clients' pull subscriptions: to each subscription on an inbox of its own,
// as a pull request's reply subject is, rather than on the wildcard inbox
// that collects replies to requests. The server counts a message there once
// it is queued to the client's connection, so a subscription that drains
// after the count gets it. (The consumer's own delivered count is taken
// earlier, before the message crosses to the connection.) Heartbeats count
// too, but come only after 2.5 s without a message.
func sentToPullSubscriptions(t *testing.T, ns *server.Server) uint64 {
	t.Helper()
	subs, err := ns.Subsz(&server.SubszOptions{Subscriptions: true, Limit: 1 << 16})
	if err != nil {
		t.Fatalf("subscriptions: %v", err)
	}
	var n uint64
	for _, s := range subs.Subs {
		if strings.HasPrefix(s.Subject, "_INBOX.") && !strings.ContainsAny(s.Subject, "*>") {
			n += uint64(s.Msgs)
		}
	}
	return n
}
