package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// HeaderRedriveOf is set on a redriven message to its dead-letter position.
const HeaderRedriveOf = "Herald-Redrive-Of"

// ErrNoDeadLetter is returned for a dead-letter position that holds nothing.
var ErrNoDeadLetter = errors.New("no dead letter at that position")

// redriveSubject returns the subject on which consumer receives redriven
// messages: "<prefix>.redrive.<consumer>", where "<prefix>.>" is the first
// wildcard subject of stream. It returns "" if stream has no such subject.
// Every consumer with a subject filter also listens on its redrive subject,
// so a redrive reaches only the consumer that failed, not every consumer of
// the original subject.
func (b *Bus) redriveSubject(ctx context.Context, stream, consumer string) (string, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("stream %s: %w", stream, err)
	}
	for _, subj := range s.CachedInfo().Config.Subjects {
		if prefix, ok := strings.CutSuffix(subj, ".>"); ok {
			return prefix + ".redrive." + consumer, nil
		}
	}
	return "", nil
}

// DeadLetter returns the dead letter at position seq of the dead-letter
// stream, or an error wrapping ErrNoDeadLetter.
func (b *Bus) DeadLetter(ctx context.Context, seq uint64) (bus.DeadLetter, error) {
	raw, err := b.getDeadLetter(ctx, seq)
	if err != nil {
		return bus.DeadLetter{}, err
	}
	return deadLetter(raw.Sequence, raw.Header, raw.Data), nil
}

func (b *Bus) getDeadLetter(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	s, err := b.js.Stream(ctx, DLQStream)
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	raw, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: %w", seq, ErrNoDeadLetter)
	}
	if err != nil {
		return nil, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return raw, nil
}

// Redrive gives the dead letter at seq back to the consumer that failed it,
// as a new message on that consumer's redrive subject with a fresh set of
// attempts, then removes it from the dead-letter stream. A consumer that
// already applied the event (it records event ids) does not apply it again.
func (b *Bus) Redrive(ctx context.Context, seq uint64) error {
	raw, err := b.getDeadLetter(ctx, seq)
	if err != nil {
		return err
	}
	consumer, stream := raw.Header.Get(HeaderConsumer), raw.Header.Get(HeaderStream)
	subj, err := b.redriveSubject(ctx, stream, consumer)
	if err != nil {
		return fmt.Errorf("redrive %d: %w", seq, err)
	}
	if subj == "" {
		return fmt.Errorf("redrive %d: stream %s has no wildcard subject to carry redriven messages", seq, stream)
	}
	h := nats.Header{}
	h.Set(HeaderRedriveOf, strconv.FormatUint(seq, 10))
	h.Set(HeaderSubject, raw.Header.Get(HeaderSubject))
	if tp := raw.Header.Get(HeaderTraceParent); tp != "" {
		h.Set(HeaderTraceParent, tp)
	}
	msg := &nats.Msg{Subject: subj, Data: raw.Data, Header: h}
	// The id makes a repeated redrive of the same dead letter (say, after a
	// failed delete below) a duplicate the bus drops.
	id := "redrive/" + consumer + "/" + strconv.FormatUint(seq, 10)
	if _, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("redrive %d to %s: %w", seq, subj, err)
	}
	return b.Discard(ctx, seq)
}

// Discard removes the dead letter at seq for good.
func (b *Bus) Discard(ctx context.Context, seq uint64) error {
	s, err := b.js.Stream(ctx, DLQStream)
	if err != nil {
		return fmt.Errorf("discard %d: %w", seq, err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) || strings.Contains(err.Error(), "no message found") {
			return fmt.Errorf("discard %d: %w", seq, ErrNoDeadLetter)
		}
		return fmt.Errorf("discard %d: %w", seq, err)
	}
	return nil
}
