package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredRedrive is one redrive of an event, as its message stays in the
// stream (see RedriveWith).
type StoredRedrive struct {
	Consumer string    `json:"consumer"` // the consumer it was given back to
	Sequence uint64    `json:"sequence"` // the redrive message's position in the stream
	At       time.Time `json:"at"`       // when the bus stored it: when it was redriven
	By       string    `json:"by,omitempty"`
	DLQSeq   uint64    `json:"dlqSeq,omitempty"` // the dead letter it redrove
	// Attempts, Error and FailedAt are the redriven dead letter's: how
	// many times the consumer had failed the event, the last error, and
	// when it gave up.
	Attempts int       `json:"attempts,omitempty"`
	Error    string    `json:"error,omitempty"`
	FailedAt time.Time `json:"failedAt,omitzero"`
}

// Redrives returns the redrives of the event whose id is id stored in
// stream at position from or later, oldest first. It reads only the
// stream's redrive subjects ("<prefix>.redrive.>"), headers only, and at
// most scan of their messages (every one if scan <= 0); more reports that
// it stopped at scan with messages left unread. A redrive stored before
// redrives carried HeaderEventID has its data read to learn its event.
// A stream that does not exist, or has no wildcard subject, has none.
func (b *Bus) Redrives(ctx context.Context, stream, id string, from uint64, scan int) (found []StoredRedrive, more bool, err error) {
	s, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("stream %s: %w", stream, err)
	}
	filter, err := b.redriveSubject(ctx, stream, ">")
	if err != nil || filter == "" {
		return nil, false, err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverAllPolicy, HeadersOnly: true}
	if from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := s.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", filter, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", filter, err)
	}
	left := info.NumPending
	for seen := 0; left > 0; {
		if scan > 0 && seen >= scan {
			return found, true, nil
		}
		batch := 256
		if scan > 0 {
			batch = min(batch, scan-seen)
		}
		msgs, err := cons.FetchNoWait(batch)
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			return nil, false, fmt.Errorf("read %s: %w", filter, err)
		}
		n := 0
		for m := range fetched(msgs) {
			n++
			md, err := m.Metadata()
			if err != nil {
				return nil, false, fmt.Errorf("read %s: %w", filter, err)
			}
			left = md.NumPending
			r, ok, err := b.redriveOf(ctx, s, m.Subject(), m.Headers(), md, id)
			if err != nil {
				return nil, false, err
			}
			if ok {
				found = append(found, r)
			}
		}
		seen += n
		if n == 0 {
			select {
			case <-ctx.Done():
				return nil, false, fmt.Errorf("read %s: %w", filter, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	return found, false, nil
}

// redriveOf returns the redrive the message on subj with header h and
// metadata md records, if it is one of the event id.
func (b *Bus) redriveOf(ctx context.Context, s jetstream.Stream, subj string, h nats.Header, md *jetstream.MsgMetadata, id string) (StoredRedrive, bool, error) {
	ev := h.Get(HeaderEventID)
	if ev == "" { // redriven before the header existed: the event says
		raw, err := s.GetMsg(ctx, md.Sequence.Stream)
		if err != nil {
			return StoredRedrive{}, false, fmt.Errorf("read redrive at %d: %w", md.Sequence.Stream, err)
		}
		ev = EventID("", raw.Data)
	}
	if ev != id {
		return StoredRedrive{}, false, nil
	}
	r := StoredRedrive{Consumer: h.Get(HeaderConsumer), Sequence: md.Sequence.Stream, At: md.Timestamp, By: h.Get(HeaderRedrivenBy), Error: h.Get(HeaderError)}
	r.DLQSeq, _ = strconv.ParseUint(h.Get(HeaderRedriveOf), 10, 64)
	r.Attempts, _ = strconv.Atoi(h.Get(HeaderAttempts))
	r.FailedAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderFailedAt))
	if r.Consumer == "" { // redriven before the headers were copied: "<prefix>.redrive.<consumer>"
		if _, c, ok := strings.Cut(subj, ".redrive."); ok {
			r.Consumer = c
		}
	}
	return r, true, nil
}
