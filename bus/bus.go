// Package bus defines how Herald services publish and consume events, and the
// handler middleware every implementation applies. Package bus/jetstream is
// the implementation; package bus/bustest is the conformance suite any
// implementation must pass.
package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// ErrStreamFull is wrapped by Publish when the stream has reached its storage
// limit and refuses new events. It lasts until an operator raises the limit.
var ErrStreamFull = errors.New("the stream is full and refuses new events")

// Outgoing is a message to publish.
type Outgoing struct {
	Subject string
	ID      string // the message id, which lets the bus drop a re-published copy
	Data    []byte
	// TraceParent, if set, is the W3C trace context of the publish, sent
	// as the message's traceparent header: consumers continue its trace.
	TraceParent string
}

// Message is one delivery of an event to a handler.
type Message struct {
	Subject  string
	ID       string // the event id: the publisher's message id, or a redriven message's Herald-Event-Id
	Data     []byte // the event, as published
	Attempt  int    // 1 on the first delivery, 2 on the first redelivery, ...
	Sequence uint64 // the event's position in its stream
	// TraceParent is the message's traceparent header, the W3C trace
	// context of its publish; "" if it was published without one.
	TraceParent string
}

// LastAttempt reports whether a failure of attempt is the last one the
// consumer allows: the message is then dead-lettered, not retried.
func (c Consumer) LastAttempt(attempt int) bool { return attempt >= c.WithDefaults().MaxDeliver }

// Handler processes one message. A nil error acknowledges the message; an
// error asks for a redelivery after a backoff, and after the consumer's last
// attempt moves the message to the dead-letter stream. Handlers must be
// idempotent: delivery is at least once.
type Handler func(ctx context.Context, m Message) error

// BatchHandler processes several messages at once, all or none: a nil error
// acknowledges every one of them; an error acknowledges none, and each is
// then handed to the consumer's Handler alone (see Consumer.Batch).
type BatchHandler func(ctx context.Context, ms []Message) error

// Consumer describes a durable subscription. Its Name is the durable
// consumer's name: keep it stable, or the consumer starts again from the
// first event.
type Consumer struct {
	Name     string   // durable name, e.g. "query"; required
	Stream   string   // stream to read, e.g. "SHOP"; required
	Subjects []string // subjects to receive; empty means all of the stream's

	// MaxDeliver is how many times a message is tried before it is
	// dead-lettered. Default 5.
	MaxDeliver int
	// Backoff is the wait before redelivery after the n-th failed attempt
	// (the last value repeats). Default 100ms, 500ms, 2s, 5s.
	Backoff []time.Duration
	// AckWait is how long a handler may run before the message is delivered
	// again. Default 30s.
	AckWait time.Duration
	// FromStart discards any progress the bus remembers for this consumer, so
	// it starts again from the stream's first event. Set it when the
	// consumer's store is new and has seen nothing.
	FromStart bool
	// StartSeq, if set, is the first stream position a consumer the bus does
	// not know yet receives; earlier events are skipped. It does not move a
	// consumer that exists (see FromStart).
	StartSeq uint64
	// Batch, if set, handles the messages that are waiting together, up to
	// MaxBatch at a time, so a consumer that is behind commits many in one
	// transaction. A message is never held back to wait for others: one
	// that arrives alone (a consumer that keeps up) goes to the Handler. If
	// Batch fails, each of its messages goes to the Handler alone, with the
	// usual retries and dead-lettering: one poison message cannot fail the
	// others. Messages being redelivered go to the Handler alone. Batch
	// may be running for more than one batch at once (the next is prepared
	// while one commits), so batches may finish in any order: it must be
	// safe for concurrent use, like a handler of an order-independent
	// consumer. Ignored for an Ordered consumer.
	Batch BatchHandler
	// MaxBatch is the most messages Batch gets at once. Default 256.
	MaxBatch int
	// Ordered delivers one message at a time: the next is delivered only
	// once this one is acknowledged or dead-lettered, so a failing message
	// holds back the ones behind it (through its backoff) instead of being
	// overtaken. Use it for a subscriber that needs stream order; leave it
	// off for idempotent, order-independent handlers, which then run ahead.
	Ordered bool
}

// WithDefaults returns c with unset fields at their defaults.
func (c Consumer) WithDefaults() Consumer {
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	return c
}

// Delay returns the wait before redelivering a message whose attempt failed.
func (c Consumer) Delay(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(c.Backoff)-1)
	return c.Backoff[i]
}

// Subscription is a running consumer.
type Subscription interface {
	// Stop stops fetching, lets in-flight and buffered messages finish and
	// be acknowledged, and returns once they have, or when ctx is done.
	Stop(ctx context.Context) error
	// Lag returns how many of the consumer's messages are not yet
	// acknowledged: waiting to be delivered, or delivered and in progress.
	Lag(ctx context.Context) (uint64, error)
}

// DeadLetter is a message that failed every attempt.
type DeadLetter struct {
	Seq      uint64 // position in the dead-letter stream: what Redrive and Discard take
	Consumer string
	Stream   string
	Sequence uint64 // position in the original stream
	Subject  string // original subject
	ID       string // original message id
	Data     []byte
	Error    string // the last attempt's error
	Attempts int
	FailedAt time.Time
}

// Bus publishes events durably and delivers them to durable consumers.
type Bus interface {
	// Publish stores payload on subject and returns nil only once the bus
	// acknowledged it durably. A second publish with the same id within the
	// bus's duplicate window is dropped.
	Publish(ctx context.Context, subject, id string, payload []byte) error
	// Subscribe starts (or resumes) the durable consumer c and runs h for each
	// message, one at a time. It returns once the consumer is attached.
	Subscribe(ctx context.Context, c Consumer, h Handler) (Subscription, error)
	// DeadLetters returns the dead-lettered messages of the named consumer,
	// oldest first.
	DeadLetters(ctx context.Context, consumer string) ([]DeadLetter, error)
}

// RecoverBatch is Recover for a BatchHandler.
func RecoverBatch(h BatchHandler) BatchHandler {
	return func(ctx context.Context, ms []Message) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("batch handler panicked: %v\n%s", r, debug.Stack())
			}
		}()
		return h(ctx, ms)
	}
}

// Recover turns a panic in h into an error, so a poison message is retried
// and dead-lettered like any failure instead of crashing the process.
func Recover(h Handler) Handler {
	return func(ctx context.Context, m Message) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
			}
		}()
		return h(ctx, m)
	}
}
