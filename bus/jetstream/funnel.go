package jetstream

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/heraldev/herald/bus"
)

// Funnel publishes the messages of many concurrent callers, each waiting
// for its own acknowledgement, as few atomic batches: while one batch is
// on its way, the messages that arrive queue, and go together as the next
// batch once it is acknowledged. A server that fsyncs every write
// (sync_always) then fsyncs once per batch instead of once per message, so
// callers that each publish one message (the gateway's POST /events, one
// per request) get the throughput of batches without waiting for a batch
// to fill: a message waits at most for the batch before it.
//
// Messages bound for a stream without atomic batches, a lone message, and
// every message of a batch the server refuses (it holds the id of one of
// them already: a client retrying) go one by one, as PublishHeader sends
// them, each deduplicated on its own. It is safe for concurrent use.
type Funnel struct {
	b *Bus

	mu    sync.Mutex
	queue []*funneled
	busy  bool // a goroutine is sending the queue
}

// funnelMin is the fewest messages a Funnel sends as an atomic batch;
// fewer go one by one. The server stages a batch before it stores it, which
// costs a few batches' worth of latency, so a handful of messages is
// quicker sent alone (the same floor as the outbox relay's).
const funnelMin = 32

type funneled struct {
	msg  *nats.Msg
	id   string
	seq  uint64
	err  error
	done chan struct{}
}

// NewFunnel returns a Funnel publishing on b.
func (b *Bus) NewFunnel() *Funnel { return &Funnel{b: b} }

// Publish sends payload on subject with Nats-Msg-Id id and the extra
// headers, and returns its stream position once the bus has stored it
// durably: PublishHeader's contract, sent with other callers' messages.
// If ctx ends first the message may still be stored.
func (f *Funnel) Publish(ctx context.Context, subject, id string, header map[string]string, payload []byte) (uint64, error) {
	m := &funneled{msg: &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}, id: id, done: make(chan struct{})}
	for k, v := range header {
		m.msg.Header.Set(k, v)
	}
	f.mu.Lock()
	f.queue = append(f.queue, m)
	if !f.busy {
		f.busy = true
		go f.send()
	}
	f.mu.Unlock()
	select {
	case <-m.done:
		return m.seq, m.err
	case <-ctx.Done():
		return 0, fmt.Errorf("publish %s: %w", subject, ctx.Err())
	}
}

// send publishes the queue, a batch at a time, until it is empty.
func (f *Funnel) send() {
	for {
		f.mu.Lock()
		n := min(len(f.queue), maxGroup)
		if n == 0 {
			f.busy = false
			f.queue = nil // drop the backing array a burst grew
			f.mu.Unlock()
			return
		}
		batch := f.queue[:n:n]
		f.queue = f.queue[n:]
		f.mu.Unlock()
		f.publish(batch)
		for _, m := range batch {
			close(m.done)
		}
	}
}

// publish sends batch and records each message's position or error.
func (f *Funnel) publish(batch []*funneled) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	err := f.b.guard(ctx, func(ctx context.Context) error {
		if len(batch) >= funnelMin && f.b.batches && f.atomic(batch) && f.publishBatch(ctx, batch) {
			return nil
		}
		return f.publishEach(ctx, batch)
	})
	for _, m := range batch {
		if m.seq == 0 && m.err == nil {
			m.err = f.b.publishError(m.msg.Subject, err)
		}
	}
}

// publishBatch sends batch as one atomic batch and reports whether the
// server stored it; if not, it leaves batch ready to be sent one by one.
func (f *Funnel) publishBatch(ctx context.Context, batch []*funneled) bool {
	msgs := make([]*nats.Msg, len(batch))
	for i, m := range batch {
		m.msg.Header.Set(jetstream.MsgIDHeader, m.id)
		msgs[i] = m.msg
	}
	ack, err := jetstreamext.PublishMsgBatch(ctx, f.b.js, msgs,
		jetstreamext.BatchFlowControl{AckFirst: false, AckTimeout: publishTimeout})
	n := uint64(len(batch))
	if err == nil && ack.BatchSize == n && ack.Sequence >= n {
		// An atomic batch is stored whole, at consecutive positions.
		for i, m := range batch {
			m.seq = ack.Sequence - n + 1 + uint64(i)
		}
		return true
	}
	if err == nil {
		err = fmt.Errorf("a batch of %d acknowledged as %d ending at %d", n, ack.BatchSize, ack.Sequence)
	}
	f.b.log.Debug("atomic batch refused, publishing its messages one by one", "messages", n, "err", err)
	for _, m := range batch {
		m.msg.Header.Del(jetstreamext.BatchIDHeader)
		m.msg.Header.Del(jetstreamext.BatchSeqHeader)
		m.msg.Header.Del(jetstreamext.BatchCommitHeader)
	}
	return false
}

// publishEach sends every message of batch on its own, without waiting
// for one acknowledgement before sending the next, and records each
// message's position or error; it returns ctx's error if ctx ends first.
func (f *Funnel) publishEach(ctx context.Context, batch []*funneled) error {
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, m := range batch {
		if futures[i], m.err = f.b.js.PublishMsgAsync(m.msg, jetstream.WithMsgID(m.id)); m.err != nil {
			m.err = f.b.publishError(m.msg.Subject, m.err)
		}
	}
	for i, m := range batch {
		if futures[i] == nil {
			continue
		}
		select {
		case ack := <-futures[i].Ok():
			m.seq = ack.Sequence
		case err := <-futures[i].Err():
			m.err = f.b.publishError(m.msg.Subject, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// atomic reports whether every message of batch goes to one stream that
// takes atomic batches.
func (f *Funnel) atomic(batch []*funneled) bool {
	ms := make([]bus.Outgoing, len(batch))
	for i, m := range batch {
		ms[i] = bus.Outgoing{Subject: m.msg.Subject}
	}
	return f.b.atomic.oneStream(ms)
}
