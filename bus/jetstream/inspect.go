package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerState is what the server knows of a durable consumer: how far it
// has come, and what waits for it. It is read from the consumer's info and
// the streams, never from a copy Herald keeps.
type ConsumerState struct {
	Name     string   `json:"name"`
	Stream   string   `json:"stream"`
	Subjects []string `json:"subjects"`
	// AckFloor is the stream position up to which every message of the
	// consumer is settled (applied, or dead-lettered), and AckFloorTime
	// when the last of them was.
	AckFloor     uint64    `json:"ackFloor"`
	AckFloorTime time.Time `json:"ackFloorTime,omitzero"`
	// Delivered is the stream position of the last message delivered.
	Delivered uint64 `json:"delivered"`
	// Pending are the consumer's messages not yet delivered; AckPending
	// those delivered and not yet settled.
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ackPending"`
	// Redelivered are the messages delivered more than once and still
	// unsettled.
	Redelivered int `json:"redelivered"`
	// DeadLettered is how many of its messages wait in the DLQ.
	DeadLettered uint64 `json:"deadLettered"`
	// Lag is how long the oldest unsettled message has waited since it was
	// stored; 0 when the consumer is caught up.
	Lag time.Duration `json:"lagNanos"`
}

// ErrNoConsumer is returned by ConsumerState for a consumer the server does
// not know.
var ErrNoConsumer = errors.New("no such consumer")

// ConsumerState returns the state of durable consumer name on stream.
func (b *Bus) ConsumerState(ctx context.Context, stream, name string) (ConsumerState, error) {
	st := ConsumerState{Name: name, Stream: stream}
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return st, fmt.Errorf("stream %s: %w", stream, err)
	}
	cons, err := s.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return st, fmt.Errorf("consumer %s on %s: %w", name, stream, ErrNoConsumer)
	}
	if err != nil {
		return st, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
	}
	info := cons.CachedInfo() // fetched just now, by Consumer
	st.Subjects = info.Config.FilterSubjects
	if len(st.Subjects) == 0 && info.Config.FilterSubject != "" {
		st.Subjects = []string{info.Config.FilterSubject}
	}
	st.AckFloor, st.Delivered = info.AckFloor.Stream, info.Delivered.Stream
	if info.AckFloor.Last != nil {
		st.AckFloorTime = *info.AckFloor.Last
	}
	st.Pending, st.AckPending, st.Redelivered = info.NumPending, info.NumAckPending, info.NumRedelivered
	if st.Pending+uint64(st.AckPending) > 0 {
		oldest, err := b.oldestAfter(ctx, s, st.AckFloor, st.Subjects)
		if err != nil {
			return st, fmt.Errorf("lag of %s: %w", name, err)
		}
		if !oldest.IsZero() {
			st.Lag = max(time.Since(oldest), 0)
		}
	}
	if st.DeadLettered, err = b.deadLettered(ctx, name); err != nil {
		return st, err
	}
	return st, nil
}

// oldestAfter returns the time the first message after seq on subjects (any
// subject if none) was stored; zero if there is none.
func (b *Bus) oldestAfter(ctx context.Context, s jetstream.Stream, seq uint64, subjects []string) (time.Time, error) {
	if len(subjects) == 0 {
		subjects = []string{">"}
	}
	var oldest time.Time
	for _, subj := range subjects {
		m, err := s.GetMsg(ctx, seq+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		if oldest.IsZero() || m.Time.Before(oldest) {
			oldest = m.Time
		}
	}
	return oldest, nil
}

// deadLettered counts the DLQ's messages for consumer.
func (b *Bus) deadLettered(ctx context.Context, consumer string) (uint64, error) {
	s, err := b.js.Stream(ctx, DLQStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", DLQStream, err)
	}
	subj := "dlq." + consumer
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", DLQStream, err)
	}
	return info.State.Subjects[subj], nil
}

// Find looks for the message whose id (its Nats-Msg-Id, an event's id) is
// id on stream, reading forward from a little before near (the event's
// creation time; zero reads from the first message) for at most scan
// messages or until messages stored well after near. It reports whether
// it found the message; a stream that does not exist holds none.
func (b *Bus) Find(ctx context.Context, stream, id string, near time.Time, scan int) (Stored, bool, error) {
	s, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return Stored{}, false, nil // an app that never ran
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("stream %s: %w", stream, err)
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true}
	until := time.Time{}
	if !near.IsZero() {
		start := near.Add(-time.Minute) // clocks of the writer and the bus may differ a little
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
		until = near.Add(10 * time.Minute) // the relay publishes long after the commit only when the bus was down
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return Stored{}, false, fmt.Errorf("read %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return Stored{}, false, fmt.Errorf("read %s: %w", stream, err)
	}
	if info.NumPending == 0 {
		return Stored{}, false, nil
	}
	for seen := 0; seen < scan; {
		msgs, err := cons.FetchNoWait(min(512, scan-seen))
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			return Stored{}, false, fmt.Errorf("read %s: %w", stream, err)
		}
		n, last := 0, false
		for m := range fetched(msgs) {
			n++
			md, err := m.Metadata()
			if err != nil {
				return Stored{}, false, fmt.Errorf("read %s: %w", stream, err)
			}
			if m.Headers().Get(jetstream.MsgIDHeader) == id {
				raw, err := s.GetMsg(ctx, md.Sequence.Stream)
				if err != nil {
					return Stored{}, false, fmt.Errorf("read %s position %d: %w", stream, md.Sequence.Stream, err)
				}
				return Stored{Subject: raw.Subject, Sequence: raw.Sequence, Header: raw.Header, Data: raw.Data, Time: raw.Time}, true, nil
			}
			if md.NumPending == 0 || !until.IsZero() && md.Timestamp.After(until) {
				last = true
			}
		}
		seen += n
		if last {
			break
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				return Stored{}, false, fmt.Errorf("read %s: %w", stream, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return Stored{}, false, nil
}

// ConsumerNames returns the names of the durable consumers of stream, in
// no particular order; none for a stream that does not exist.
func (b *Bus) ConsumerNames(ctx context.Context, stream string) ([]string, error) {
	s, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	lister := s.ConsumerNames(ctx)
	var names []string
	for n := range lister.Name() {
		names = append(names, n)
	}
	if err := lister.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", stream, err)
	}
	return names, nil
}
