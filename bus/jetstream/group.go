package jetstream

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/heraldev/herald/bus"
)

// maxGroup is the most messages PublishGroup sends as one atomic batch:
// nats-server's default limit (max_batch_size).
const maxGroup = 1000

// atomicStreams are the streams, ensured by this Bus, whose server accepts
// atomic batches (nats-server 2.12 and later), with their subjects.
type atomicStreams struct {
	mu      sync.RWMutex
	streams map[string][]string // name → subject filters
}

// record notes whether stream cfg, as the server holds it, takes atomic
// batches.
func (a *atomicStreams) record(cfg jetstream.StreamConfig) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.streams == nil {
		a.streams = map[string][]string{}
	}
	if cfg.AllowAtomicPublish {
		a.streams[cfg.Name] = cfg.Subjects
	} else {
		delete(a.streams, cfg.Name)
	}
}

// oneStream reports whether every message of ms goes to one stream that
// takes atomic batches.
func (a *atomicStreams) oneStream(ms []bus.Outgoing) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, filters := range a.streams {
		all := true
		for _, m := range ms {
			if !matchesAny(m.Subject, filters) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matchesAny reports whether subject matches one of filters, NATS
// subject filters with the wildcards * (one token) and > (the rest).
func matchesAny(subject string, filters []string) bool {
	for _, f := range filters {
		if matches(subject, f) {
			return true
		}
	}
	return false
}

func matches(subject, filter string) bool {
	st, ft := strings.Split(subject, "."), strings.Split(filter, ".")
	for i, f := range ft {
		switch {
		case f == ">":
			return len(st) > i
		case i >= len(st):
			return false
		case f != "*" && f != st[i]:
			return false
		}
	}
	return len(st) == len(ft)
}

// PublishGroup implements outbox.GroupPublisher: it sends every message of
// ms, each with Nats-Msg-Id set to its ID, and returns at once; wait
// returns nil once the bus acknowledged all of them durably, or the first
// reason one was not (wrapping bus.ErrStreamFull if the stream is full).
// After an error any of them may be stored; publishing them again is safe,
// as the bus drops copies by their ids.
//
// Two or more messages bound for one stream that takes atomic batches
// (nats-server 2.12 or later; EnsureStream turns them on) go as one
// atomic batch, stored in the order sent and acknowledged with one reply.
// A server that fsyncs every write (sync_always) fsyncs such a batch once,
// where it would fsync each message sent alone: that is what lets a relay
// publish at the rate its service commits rather than at the disk's rate
// of fsyncs. A batch the server refuses (it holds the id of one of them
// already, say, after a relay restarted between the acknowledgement and
// the outbox's delete) is sent again message by message, each deduplicated
// on its own. Messages bound elsewhere, or for a server without atomic
// batches, or from a Bus with Options.NoBatches, go one by one, as
// PublishAll sends them.
func (b *Bus) PublishGroup(ms []bus.Outgoing) (wait func(context.Context) error) {
	if !b.batches || len(ms) < 2 || len(ms) > maxGroup || !b.atomic.oneStream(ms) {
		return b.publishEach(ms)
	}
	done := make(chan error, 1)
	go func() {
		msgs := make([]*nats.Msg, len(ms))
		for i, m := range ms {
			h := header(m)
			h[jetstream.MsgIDHeader] = []string{m.ID}
			msgs[i] = &nats.Msg{Subject: m.Subject, Data: m.Data, Header: h}
		}
		// The same bound as PublishAsync's: an acknowledgement that never
		// comes fails the batch rather than leave it pending.
		ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
		defer cancel()
		_, err := jetstreamext.PublishMsgBatch(ctx, b.js, msgs,
			jetstreamext.BatchFlowControl{AckFirst: false, AckTimeout: publishTimeout})
		if err != nil {
			b.log.Debug("atomic batch refused, publishing its messages one by one", "messages", len(ms), "err", err)
			// Each of those waits is bounded by the async publish timeout
			// on its own; ctx may be spent by the batch.
			err = b.publishEach(ms)(context.Background())
		}
		done <- err
	}()
	return func(ctx context.Context) error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("publish %d events from %s: %w", len(ms), ms[0].Subject, ctx.Err())
		}
	}
}

// publishEach sends every message of ms on its own, without waiting for
// one acknowledgement before sending the next; wait returns the first
// failure.
func (b *Bus) publishEach(ms []bus.Outgoing) func(context.Context) error {
	waits := make([]func(context.Context) error, len(ms))
	for i, m := range ms {
		waits[i] = b.PublishAsync(m)
	}
	return func(ctx context.Context) error {
		var first error
		for _, wait := range waits {
			if err := wait(ctx); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// publishTimeout bounds the wait for an acknowledgement.
const publishTimeout = 10 * time.Second
