package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// Stored is one message as stored in a stream.
type Stored struct {
	Subject  string
	Sequence uint64
	Header   map[string][]string
	Data     []byte
	Time     time.Time
}

// Read returns up to limit messages of stream (all if limit <= 0) whose
// subjects match filter (all if empty), starting at sequence from (1 if 0),
// in stream order. It uses an ephemeral ordered consumer, so it neither
// changes nor waits for any durable consumer. It returns every matching
// message or an error, never a silently shortened history.
func (b *Bus) Read(ctx context.Context, stream string, filter []string, from uint64, limit int) ([]Stored, error) {
	var s jetstream.Stream
	var info *jetstream.StreamInfo
	err := UntilAnswered(ctx, func(ctx context.Context) error {
		var err error
		if s, err = b.js.Stream(ctx, stream); err != nil {
			return err
		}
		info, err = s.Info(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	if info.State.Msgs == 0 || from > info.State.LastSeq {
		return nil, nil
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filter, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	var cons jetstream.Consumer
	var cinfo *jetstream.ConsumerInfo
	err = UntilAnswered(ctx, func(ctx context.Context) error {
		var err error
		if cons, err = s.OrderedConsumer(ctx, cfg); err != nil {
			return err
		}
		cinfo, err = cons.Info(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	if cinfo.NumPending == 0 {
		return nil, nil // nothing matches
	}
	var out []Stored
	for limit <= 0 || len(out) < limit {
		batch := 256
		if limit > 0 {
			batch = min(batch, limit-len(out))
		}
		// Messages are already stored, so don't wait for a full batch; only
		// the first fetch of a new consumer may briefly find nothing.
		msgs, err := cons.FetchNoWait(batch)
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		n := 0
		var pending uint64
		for m := range fetched(msgs) {
			md, err := m.Metadata()
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", stream, err)
			}
			out = append(out, Stored{Subject: m.Subject(), Sequence: md.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: md.Timestamp})
			pending = md.NumPending
			n++
		}
		// On a cluster, a new consumer's first fetch can reach a server that
		// does not know it yet and go unanswered: that is no message yet.
		if err := fetchErr(msgs); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		if n > 0 && pending == 0 {
			break
		}
		if n == 0 {
			// More messages match but none came yet: wait for them, or for
			// the caller's deadline; never return a silently short history.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("read %s: %w", stream, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return out, nil
}

// fetched returns the messages of batch, none if it is nil.
func fetched(batch jetstream.MessageBatch) <-chan jetstream.Msg {
	if batch == nil {
		c := make(chan jetstream.Msg)
		close(c)
		return c
	}
	return batch.Messages()
}

// fetchErr returns the error batch ended with, nil if it is nil.
func fetchErr(batch jetstream.MessageBatch) error {
	if batch == nil {
		return nil
	}
	return batch.Error()
}

// DeadLetters implements bus.Bus.
func (b *Bus) DeadLetters(ctx context.Context, consumer string) ([]bus.DeadLetter, error) {
	filter := "dlq.>"
	if consumer != "" {
		filter = "dlq." + consumer
	}
	msgs, err := b.Read(ctx, DLQStream, []string{filter}, 0, 0)
	if err != nil {
		return nil, err
	}
	out := make([]bus.DeadLetter, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, deadLetter(m.Sequence, m.Header, m.Data))
	}
	return out, nil
}

func deadLetter(seq uint64, header map[string][]string, data []byte) bus.DeadLetter {
	h := func(k string) string {
		if v := header[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	origSeq, _ := strconv.ParseUint(h(HeaderSequence), 10, 64)
	attempts, _ := strconv.Atoi(h(HeaderAttempts))
	failed, _ := time.Parse(time.RFC3339Nano, h(HeaderFailedAt))
	return bus.DeadLetter{
		Seq: seq, Consumer: h(HeaderConsumer), Stream: h(HeaderStream), Sequence: origSeq,
		Subject: h(HeaderSubject), ID: h(HeaderMsgID), Data: data,
		Error: h(HeaderError), Attempts: attempts, FailedAt: failed,
	}
}
