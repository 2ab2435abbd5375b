package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// Headers on a redriven message, besides the dead letter's own (see
// RedriveWith).
const (
	// HeaderRedriveOf is the redriven dead letter's position in the DLQ.
	HeaderRedriveOf = "Herald-Redrive-Of"
	// HeaderEventID is the id of the event the message carries, which its
	// message id (one per redrive) is not. A consumer takes it as the
	// message's ID (bus.Message.ID).
	HeaderEventID = "Herald-Event-Id"
	// HeaderRedrivenBy says who redrove it: a person, a host, a tool.
	HeaderRedrivenBy = "Herald-Redriven-By"
)

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

// Redrive is RedriveWith with no options: the dead letter as it is, by
// nobody in particular.
func (b *Bus) Redrive(ctx context.Context, seq uint64) error {
	_, err := b.RedriveWith(ctx, seq, RedriveOptions{})
	return err
}

// RedriveOptions change what RedriveWith publishes.
type RedriveOptions struct {
	// By names who redrives (HeaderRedrivenBy), e.g. "ann@laptop via herald
	// dlq"; at most 200 bytes are kept. Empty sets no header.
	By string
	// Transform, if set, is applied to the dead letter's data (the stored
	// CloudEvent) and its result published instead, e.g. an upcaster that
	// turns a v1 event into v2. It must keep the event's id. If it fails,
	// nothing is published and the dead letter stays.
	Transform func(data []byte) ([]byte, error)
}

// RedriveWith gives the dead letter at seq back to the consumer that failed
// it, as a new message on that consumer's redrive subject with a fresh set
// of attempts, then removes it from the dead-letter stream. It returns the
// new message's position in the consumer's stream.
//
// The message stays in the stream, so an event's redrives can be found
// later (see Redrives): it carries the dead letter's headers (the
// consumer, the original stream, position, subject and message id, the
// last error, the attempts, when it failed, the traceparent), and
// HeaderRedriveOf, HeaderEventID and, if o.By is set, HeaderRedrivenBy.
//
// A consumer that already applied the event (it records event ids) does
// not apply it again. Redriving a position twice publishes once: the
// second publish is a duplicate the bus drops (within its window), and
// the second delete finds nothing and returns an error wrapping
// ErrNoDeadLetter.
func (b *Bus) RedriveWith(ctx context.Context, seq uint64, o RedriveOptions) (uint64, error) {
	raw, err := b.getDeadLetter(ctx, seq)
	if err != nil {
		return 0, err
	}
	consumer, stream := raw.Header.Get(HeaderConsumer), raw.Header.Get(HeaderStream)
	subj, err := b.redriveSubject(ctx, stream, consumer)
	if err != nil {
		return 0, fmt.Errorf("redrive %d: %w", seq, err)
	}
	if subj == "" {
		return 0, fmt.Errorf("redrive %d: stream %s has no wildcard subject to carry redriven messages", seq, stream)
	}
	data := raw.Data
	if o.Transform != nil {
		if data, err = o.Transform(raw.Data); err != nil {
			return 0, fmt.Errorf("redrive %d: transform its event: %w", seq, err)
		}
		if len(data) == 0 {
			return 0, fmt.Errorf("redrive %d: the transform of its event returned nothing", seq)
		}
	}
	h := nats.Header{}
	for _, k := range []string{HeaderConsumer, HeaderStream, HeaderSequence, HeaderSubject, HeaderMsgID,
		HeaderError, HeaderAttempts, HeaderFailedAt, HeaderTraceParent} {
		if v := raw.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set(HeaderRedriveOf, strconv.FormatUint(seq, 10))
	if id := EventID(raw.Header.Get(HeaderMsgID), data); id != "" {
		h.Set(HeaderEventID, id)
	}
	if by := oneLine(o.By, 200); by != "" {
		h.Set(HeaderRedrivenBy, by)
	}
	msg := &nats.Msg{Subject: subj, Data: data, Header: h}
	// The id makes a repeated redrive of the same dead letter (say, after a
	// failed delete below) a duplicate the bus drops.
	id := "redrive/" + consumer + "/" + strconv.FormatUint(seq, 10)
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	if err != nil {
		return 0, fmt.Errorf("redrive %d to %s: %w", seq, subj, err)
	}
	return ack.Sequence, b.Discard(ctx, seq)
}

// EventID returns the id of the event a message carries: the "id" of data
// if data is a JSON object with one (a CloudEvent), else msgID, the
// message id it was published with.
func EventID(msgID string, data []byte) string {
	var ce struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &ce) == nil && ce.ID != "" {
		return ce.ID
	}
	return msgID
}

// oneLine returns s on one line, cut to at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
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
