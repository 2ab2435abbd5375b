package jetstream

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// Count returns how many messages of stream match filter (all if empty)
// from position from (1 if 0) on, as an ordered consumer there would see
// them now.
func (b *Bus) Count(ctx context.Context, stream string, filter []string, from uint64) (uint64, error) {
	_, info, err := b.ordered(ctx, stream, filter, from)
	if err != nil {
		return 0, err
	}
	return info.NumPending, nil
}

// ordered creates an ordered consumer of stream's messages on filter from
// position from, and returns it with its info.
func (b *Bus) ordered(ctx context.Context, stream string, filter []string, from uint64) (jetstream.Consumer, *jetstream.ConsumerInfo, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: filter, DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	var cons jetstream.Consumer
	var info *jetstream.ConsumerInfo
	err := UntilAnswered(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if cons, err = s.OrderedConsumer(ctx, cfg); err != nil {
			return err
		}
		info, err = cons.Info(ctx)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return cons, info, nil
}

// Replay hands fn the messages of stream whose subjects match filter (all
// if empty), from position from (1 if 0) up to position to (inclusive; 0
// means the stream's last position when Replay starts), in stream order,
// in batches of at most batch messages. It reads with an ordered consumer:
// it needs no durable consumer and acknowledges nothing, so it changes
// nothing on the bus. It returns the position up to which it has handed
// fn every matching message: to, once it is done; on the first error fn
// returns, or when ctx ends, the position of the last message fn took
// (from-1 if none), with that error.
//
// The consumer pulls ahead, up to two batches, while fn works on one, so
// the bus delivers the next batch while fn applies this one. A batch holds
// batch messages, fewer only at the end: at to, or at the last matching
// message the stream holds.
func (b *Bus) Replay(ctx context.Context, stream string, filter []string, from, to uint64, batch int, fn func([]bus.Message) error) (uint64, error) {
	from = max(from, 1)
	done := from - 1
	if to == 0 {
		last, err := b.LastSeq(ctx, stream)
		if err != nil {
			return done, err
		}
		to = last
	}
	if to < from {
		return done, nil
	}
	cons, info, err := b.ordered(ctx, stream, filter, from)
	if err != nil {
		return done, err
	}
	pending := info.NumPending
	if pending == 0 {
		return to, nil // nothing matches from there on
	}
	if batch <= 0 {
		batch = 256
	}
	// One iterator for the whole replay: an ordered consumer's Fetch
	// deletes and recreates its consumer on the server every call, which
	// cost a replay about half its time, waiting.
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * batch))
	if err != nil {
		return done, fmt.Errorf("replay %s: %w", stream, err)
	}
	defer it.Stop()
	ms := make([]bus.Message, 0, batch)
	for pending > 0 && done < to {
		ms = ms[:0]
		last := done
		// Every message counted as pending is stored: Next waits only for
		// its delivery (or for ctx, or for the consumer's missing
		// heartbeats, an error).
		for len(ms) < batch && pending > 0 && last < to {
			m, err := it.Next(jetstream.NextContext(ctx))
			if err != nil {
				return done, fmt.Errorf("replay %s: %w", stream, err)
			}
			md, err := m.Metadata()
			if err != nil {
				return done, fmt.Errorf("replay %s: %w", stream, err)
			}
			if md.Sequence.Stream > to {
				pending = 0 // past what was asked: the rest is for later
				break
			}
			pending = md.NumPending
			last = md.Sequence.Stream
			ms = append(ms, bus.Message{Subject: m.Subject(), ID: m.Headers().Get(jetstream.MsgIDHeader), Data: m.Data(),
				Attempt: 1, Sequence: md.Sequence.Stream, TraceParent: m.Headers().Get(HeaderTraceParent)})
		}
		if len(ms) > 0 {
			if err := fn(ms); err != nil {
				return done, err
			}
			done = last
		}
		if err := ctx.Err(); err != nil {
			return done, fmt.Errorf("replay %s: %w", stream, err)
		}
	}
	return to, nil
}
