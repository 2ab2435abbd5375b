package jetstream

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// startBatching starts the goroutine that hands the consumer's waiting
// messages to its batch handler. Messages reach it through enqueue.
func (s *subscription) startBatching() {
	s.batch = bus.RecoverBatch(s.c.Batch)
	// Room for every message the server lets the consumer hold unacked, so
	// that enqueue never waits in the normal course.
	s.queue = make(chan jetstream.Msg, maxAckPending(s.c))
	s.batched = make(chan struct{})
	go s.runBatches()
}

// enqueue is the Consume callback of a batching consumer.
func (s *subscription) enqueue(msg jetstream.Msg) { s.queue <- msg }

// batchesInFlight is how many batches a batching consumer handles at
// once. With two, the next batch is parsed and validated while the one
// before it commits: a consumer that is behind (rebuilding a read model,
// say) spends about as much time in its handler's CPU work as in its
// database, and a batch handler on SQLite's one writer would otherwise
// leave a core idle. Consumers that batch are, by Consumer.Batch's
// contract, not ordered, so batches may commit in either order.
const batchesInFlight = 2

// runBatches waits for a free batch slot, then takes the first waiting
// message and every message already waiting behind it, up to MaxBatch, and
// handles them together, up to batchesInFlight batches at a time. Taking
// a batch only once a slot is free lets it grow while the others run. It
// returns once the queue is closed and empty and every batch is settled.
func (s *subscription) runBatches() {
	defer close(s.batched)
	var running sync.WaitGroup
	defer running.Wait()
	slots := make(chan struct{}, batchesInFlight)
	for {
		slots <- struct{}{}
		msg, ok := <-s.queue
		if !ok {
			return
		}
		msgs := []jetstream.Msg{msg}
	more:
		for len(msgs) < s.c.MaxBatch {
			select {
			case next, ok := <-s.queue:
				if !ok {
					break more
				}
				msgs = append(msgs, next)
			default:
				break more
			}
		}
		running.Go(func() {
			defer func() { <-slots }()
			s.handleBatch(msgs)
		})
	}
}

// handleBatch handles msgs, in their order: runs of first deliveries go to
// the batch handler together, redeliveries (which failed before) to the
// handler alone. A run whose batch fails goes to the handler message by
// message, so each is retried or dead-lettered on its own.
func (s *subscription) handleBatch(msgs []jetstream.Msg) {
	var run []jetstream.Msg
	var ms []bus.Message
	flush := func() {
		if len(run) == 0 {
			return
		}
		if len(run) == 1 || !s.tryBatch(run, ms) {
			for _, msg := range run {
				s.handle(msg)
			}
		}
		run, ms = run[:0], ms[:0]
	}
	for _, msg := range msgs {
		m, ok := s.message(msg)
		if !ok {
			continue
		}
		if m.Attempt > 1 {
			flush()
			s.handle(msg)
			continue
		}
		run = append(run, msg)
		ms = append(ms, m)
	}
	flush()
}

// tryBatch runs the batch handler on ms (the messages of run) and, if it
// succeeded, acknowledges them all and reports true.
func (s *subscription) tryBatch(run []jetstream.Msg, ms []bus.Message) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.c.AckWait)
	defer cancel()
	if err := s.batch(ctx, ms); err != nil {
		s.bus.log.Debug("batch failed; handling its messages one by one", "consumer", s.c.Name,
			"messages", len(ms), "first_seq", ms[0].Sequence, "err", err)
		return false
	}
	for i, msg := range run {
		s.settle(msg, ms[i], nil)
	}
	return true
}
