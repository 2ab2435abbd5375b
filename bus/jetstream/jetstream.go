// Package jetstream implements bus.Bus on NATS JetStream, and embeds a NATS
// server for the single-process mode.
package jetstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// DLQStream is the stream that holds dead-lettered messages, on subjects
// "dlq.<consumer>".
const DLQStream = "DLQ"

// Headers on a dead-lettered message.
const (
	HeaderConsumer = "Herald-Consumer"
	HeaderStream   = "Herald-Stream"
	HeaderSequence = "Herald-Stream-Seq"
	HeaderSubject  = "Herald-Subject"
	HeaderMsgID    = "Herald-Msg-Id"
	HeaderError    = "Herald-Error"
	HeaderAttempts = "Herald-Attempts"
	HeaderFailedAt = "Herald-Failed-At"
)

var _ bus.Bus = (*Bus)(nil)

// Bus is a bus.Bus on a NATS connection. It is safe for concurrent use.
type Bus struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *slog.Logger
	replicas int
	maxBytes int64
	atomic   atomicStreams // streams that take atomic batches (PublishGroup)
	batches  bool          // PublishGroup may send atomic batches (not Options.NoBatches)
	verify   bool          // Options.VerifyStreams
	denied   *denials      // the server's refusals of this connection's requests
}

// Options configures a Bus.
type Options struct {
	// Replicas is how many servers keep a copy of each stream EnsureStream
	// makes, the dead-letter stream included. 0, the default, is automatic:
	// 3 in a cluster that can place them, else 1, never lowering an existing
	// stream (see EnsureStream). 1 to 5 is an operator's decision, applied
	// exactly, even if that lowers an existing stream's replicas.
	Replicas int
	// MaxBytes caps the storage of streams made by EnsureStream (not the
	// dead-letter stream); 0 means no limit. A full stream refuses new
	// events (bus.ErrStreamFull) and never discards stored ones.
	MaxBytes int64
	// NoBatches makes PublishGroup send each message on its own: for a
	// server that does not fsync every write, where an atomic batch costs
	// more than the fsyncs it saves.
	NoBatches bool
	// VerifyStreams makes EnsureStream only check that the streams exist,
	// never create or update them: for a connection whose identity may not
	// (every service's but the admin's, see Identity).
	VerifyStreams bool
	Logger        *slog.Logger
}

// New returns a Bus on nc. The caller keeps ownership of nc.
func New(nc *nats.Conn, opts Options) (*Bus, error) {
	// An acknowledgement that never comes (a server that died after
	// receiving the event) fails the async publish instead of leaving it
	// pending forever; the relay then publishes the event again.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(publishTimeout), jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if opts.Replicas < 0 || opts.Replicas > maxReplicas {
		return nil, fmt.Errorf("jetstream: %d replicas: want 0 (automatic) or 1 to %d", opts.Replicas, maxReplicas)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Bus{nc: nc, js: js, log: opts.Logger, replicas: opts.Replicas, maxBytes: opts.MaxBytes, batches: !opts.NoBatches, verify: opts.VerifyStreams, denied: newDenials(nc)}, nil
}

// Dial connects to the NATS server at url, reconnecting forever after a
// loss, and returns a Bus on that connection and the connection itself, for
// the caller to close. extra are further connection options: an identity's
// credentials (Credentials.Options).
func Dial(url, name string, opts Options, extra ...nats.Option) (*Bus, *nats.Conn, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nc, err := nats.Connect(url, append(ClientOptions(name, log), extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s: %w", url, err)
	}
	b, err := New(nc, opts)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return b, nc, nil
}

// ClientOptions are the connection options Herald uses: reconnect forever,
// and log connection changes.
func ClientOptions(name string, log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrl()) }),
		// A refused publish or subscription (see Identity) is reported
		// here, not to the request, and would otherwise go to stderr.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("the bus reported an error", "err", err)
		}),
	}
}

// EnsureStream creates the stream name over subjects, or updates it to this
// configuration, and makes sure the dead-letter stream exists. Streams keep
// every event (no age or size limit) in files, and refuse new events rather
// than discard old ones if a limit is ever set. The stream name takes
// atomic batches (PublishGroup) where the server can (nats-server 2.12 and
// later); an older server ignores the setting.
//
// Both streams get Options.Replicas copies if it is set. In automatic mode
// (Replicas 0) each stream is offered the larger of 3 and the replicas it
// has, and, only if the server cannot place that many, the larger of 1 and
// the replicas it has: an existing stream is never lowered. The choice is
// logged with its reason. Automatic mode asks the server rather than count
// servers itself, because a client cannot see the cluster's size: without
// the system account no API describes the JetStream meta group, and the
// server URLs a client learns (nats.Conn.Servers, DiscoveredServers) count
// addresses, not servers (one per interface for a server listening on
// 0.0.0.0), and are empty for a cluster that does not advertise them. The
// meta leader places 3 replicas only on 3 distinct JetStream servers of the
// connected cluster, and refuses otherwise; a single server refuses any
// count above 1. Its answer is the cluster as the meta leader knows it:
//   - a server that is down still counts while a majority is up (nats-server
//     2.15; older servers may skip it and so give a new stream 1 replica);
//   - a cluster just started, before the meta leader has heard from 3
//     servers, gives 1 (logged as a warning); the next EnsureStream raises
//     the stream to 3;
//   - a cluster of 2 JetStream servers gives 1, not 2;
//   - an account whose tiered limits allow no R3 streams gives 1;
//   - on a single server, every call costs one refused API request.
func (b *Bus) EnsureStream(ctx context.Context, name string, subjects ...string) error {
	return b.guard(ctx, func(ctx context.Context) error { return b.ensureStreams(ctx, name, subjects) })
}

// streamAppears is how long a Bus that may not create streams waits for
// one to exist before it says the stream is missing. In a cluster, a
// stream the admin has just created can be unknown for a moment to the
// server a service asks (its group still electing a leader): seen as a
// service refusing to start right after the admin set the streams up.
var streamAppears = 5 * time.Second

// awaitStream returns stream name's configuration, waiting up to
// streamAppears for it to exist; nil if it does not by then.
func (b *Bus) awaitStream(ctx context.Context, name string) (*jetstream.StreamConfig, error) {
	deadline := time.Now().Add(streamAppears)
	for {
		_, got, err := b.streamConfig(ctx, name)
		if err != nil || got != nil || !time.Now().Before(deadline) {
			return got, err
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (b *Bus) ensureStreams(ctx context.Context, name string, subjects []string) error {
	for _, cfg := range []jetstream.StreamConfig{
		{Name: name, Subjects: subjects, MaxBytes: b.maxBytes, AllowAtomicPublish: true},
		{Name: DLQStream, Subjects: []string{"dlq.>"}},
	} {
		cfg.Storage = jetstream.FileStorage
		cfg.Retention = jetstream.LimitsPolicy
		cfg.Discard = jetstream.DiscardNew
		cfg.Duplicates = 2 * time.Minute
		cfg.AllowDirect = true
		if cfg.MaxBytes == 0 {
			cfg.MaxBytes = -1 // unlimited; also lifts a limit set earlier
		}
		if b.verify {
			got, err := b.awaitStream(ctx, cfg.Name)
			if err != nil {
				return fmt.Errorf("stream %s: %w", cfg.Name, err)
			}
			if got == nil {
				return fmt.Errorf("stream %s does not exist, and this identity may not create it: start the services once with the admin identity (admin.nk beside the services' credentials), or create it as the admin", cfg.Name)
			}
			b.atomic.record(*got)
			continue
		}
		got, err := b.ensure(ctx, cfg)
		if err != nil {
			return err
		}
		b.atomic.record(got)
	}
	return nil
}

// Publish implements bus.Bus. It sets Nats-Msg-Id to id.
func (b *Bus) Publish(ctx context.Context, subject, id string, payload []byte) error {
	_, err := b.PublishHeader(ctx, subject, id, nil, payload)
	return err
}

// PublishAll implements outbox.BatchPublisher: it publishes every message of
// ms at once, without waiting for one acknowledgement before sending the
// next, and returns, for each, nil once the bus acknowledged it durably, or
// why not (wrapping bus.ErrStreamFull if the stream is full). JetStream
// stores messages sent on one connection in the order sent, but one that
// fails can be sent again after later ones were stored: callers that need
// order among some messages must not put them in one call.
func (b *Bus) PublishAll(ctx context.Context, ms []bus.Outgoing) []error {
	waits := make([]func(context.Context) error, len(ms))
	for i, m := range ms {
		waits[i] = b.PublishAsync(m)
	}
	errs := make([]error, len(ms))
	for i, wait := range waits {
		errs[i] = wait(ctx)
	}
	return errs
}

// PublishAsync implements outbox.AsyncPublisher: it sends m with
// Nats-Msg-Id set to m.ID and returns at once; wait returns nil once the bus
// acknowledged m durably, or why not (wrapping bus.ErrStreamFull if the
// stream is full). An acknowledgement that does not come within the
// connection's async publish timeout (10s) fails the wait.
func (b *Bus) PublishAsync(m bus.Outgoing) (wait func(context.Context) error) {
	f, err := b.js.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Data, Header: header(m)}, jetstream.WithMsgID(m.ID))
	if err != nil {
		err = b.publishError(m.Subject, err)
		return func(context.Context) error { return err }
	}
	return func(ctx context.Context) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return b.publishError(m.Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("publish %s: %w", m.Subject, ctx.Err())
		}
	}
}

// HeaderTraceParent is the message header that carries the W3C trace
// context of a publish.
const HeaderTraceParent = "traceparent"

// header returns the headers m is sent with (besides its message id).
func header(m bus.Outgoing) nats.Header {
	h := nats.Header{}
	if m.TraceParent != "" {
		h[HeaderTraceParent] = []string{m.TraceParent}
	}
	return h
}

func (b *Bus) publishError(subject string, err error) error {
	if isStreamFull(err) {
		return fmt.Errorf("publish %s: %w: %w", subject, bus.ErrStreamFull, err)
	}
	return fmt.Errorf("publish %s: %w", subject, err)
}

// PublishHeader is Publish with extra message headers, which Read returns
// with the message. It returns the message's stream position; for a
// duplicate the bus dropped, the position of the copy it kept.
func (b *Bus) PublishHeader(ctx context.Context, subject, id string, header map[string]string, payload []byte) (uint64, error) {
	msg := &nats.Msg{Subject: subject, Data: payload, Header: nats.Header{}}
	for k, v := range header {
		msg.Header.Set(k, v)
	}
	var ack *jetstream.PubAck
	err := b.guard(ctx, func(ctx context.Context) error {
		var err error
		ack, err = b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
		return err
	})
	if err != nil {
		return 0, b.publishError(subject, err)
	}
	return ack.Sequence, nil
}

// LastSeq returns the position of the last message stored in stream, 0 if
// it is empty.
func (b *Bus) LastSeq(ctx context.Context, stream string) (uint64, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	return info.State.LastSeq, nil
}

// DeleteConsumer removes the durable consumer name of stream and the
// progress the bus kept for it. A consumer that does not exist is not an
// error. Stop its subscription first.
func (b *Bus) DeleteConsumer(ctx context.Context, stream, name string) error {
	err := b.js.DeleteConsumer(ctx, stream, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer %s of %s: %w", name, stream, err)
	}
	return nil
}

// jsErrStoreFailed is JetStream's error code for a store that refused a
// message, which a stream at its byte or message limit does.
const jsErrStoreFailed = 10077

func isStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jsErrStoreFailed {
		return false
	}
	return strings.Contains(apiErr.Description, "maximum bytes") || strings.Contains(apiErr.Description, "maximum messages")
}

// Subscribe implements bus.Bus with a durable pull consumer that starts from
// the stream's first event, with explicit acks. A consumer with subjects also
// receives its redrive subject (see Redrive). The server redelivers a
// message whose handler failed after the consumer's backoff; after MaxDeliver
// attempts the message is copied to the dead-letter stream with its error and
// terminated, so the stream moves on.
func (b *Bus) Subscribe(ctx context.Context, c bus.Consumer, h bus.Handler) (bus.Subscription, error) {
	var sub bus.Subscription
	err := b.guard(ctx, func(ctx context.Context) error {
		var err error
		sub, err = b.subscribe(ctx, c, h)
		return err
	})
	return sub, err
}

func (b *Bus) subscribe(ctx context.Context, c bus.Consumer, h bus.Handler) (bus.Subscription, error) {
	if c.Name == "" || c.Stream == "" {
		return nil, errors.New("subscribe: consumer needs a name and a stream")
	}
	c = c.WithDefaults()
	if c.FromStart {
		err := UntilAnswered(ctx, func(ctx context.Context) error {
			err := b.js.DeleteConsumer(ctx, c.Stream, c.Name)
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("subscribe %s to %s: reset to the first event: %w", c.Name, c.Stream, err)
		}
	}
	filter := c.Subjects
	if len(filter) > 0 {
		redrive, err := b.redriveSubject(ctx, c.Stream, c.Name)
		if err != nil {
			return nil, fmt.Errorf("subscribe %s to %s: %w", c.Name, c.Stream, err)
		}
		if redrive != "" {
			filter = append(slices.Clone(filter), redrive)
		}
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        c.Name,
		Description:    "herald consumer " + c.Name,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.AckWait,
		MaxDeliver:     -1, // the client dead-letters after c.MaxDeliver; see handle
		FilterSubjects: filter,
		MaxAckPending:  maxAckPending(c),
	}
	if c.StartSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.StartSeq
	}
	// Where a consumer starts is fixed when it is created; an existing one
	// keeps its own.
	// Both requests are retried while a cluster that has just started (or
	// lost a server) elects the stream's leader and cannot answer.
	var cons jetstream.Consumer
	err := UntilAnswered(ctx, func(ctx context.Context) error {
		old, err := b.js.Consumer(ctx, c.Stream, c.Name)
		if err == nil {
			cfg.DeliverPolicy, cfg.OptStartSeq = old.CachedInfo().Config.DeliverPolicy, old.CachedInfo().Config.OptStartSeq
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		cons, err = b.js.CreateOrUpdateConsumer(ctx, c.Stream, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe %s to %s: %w", c.Name, c.Stream, err)
	}
	s := &subscription{bus: b, c: c, h: bus.Recover(h), cons: cons}
	deliver := s.handle
	if batching(c) {
		s.startBatching()
		deliver = s.enqueue
	}
	// A pull request lives on the consumer's leader: if that server dies
	// while this client stays connected to another, the request dies with
	// it, and the client notices only after two missed heartbeats. A 5 s
	// expiry (heartbeats every 2.5 s) bounds that stall; the default, 30 s,
	// froze a consumer for half a minute after losing one node of three.
	s.cc, err = cons.Consume(deliver,
		jetstream.PullMaxMessages(pullMessages(c)),
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.log.Debug("consume", "consumer", c.Name, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("subscribe %s to %s: %w", c.Name, c.Stream, err)
	}
	return s, nil
}

// maxAckPending is how many messages the server lets consumer c hold
// unacknowledged: 1 for an Ordered one; for one that batches, room for
// the batches in flight and as many again waiting behind them, so that a
// consumer that is behind always finds full batches waiting. With the
// server's usual 1,000, a rebuilding query service ran out of room: while
// two batches committed, the server stopped delivering, the next batches
// held some 75 events instead of 256, and every event cost three times the
// commits (one fsync each): 18,700-22,400 events/s against
// 24,800-26,800/s with 2,048 (herald bench rebuild's replica, 1,000,000
// events, alternating).
func maxAckPending(c bus.Consumer) int {
	switch {
	case c.Ordered:
		return 1
	case batching(c):
		return max(1000, 8*c.MaxBatch)
	}
	return 1000
}

// pullMessages is how many messages the client asks consumer c's server
// for at a time: a batch's worth for one that batches, so that a batch is
// not waiting on round trips for its messages.
func pullMessages(c bus.Consumer) int {
	if batching(c) {
		return max(64, c.MaxBatch)
	}
	return 64
}

// batching reports whether consumer c hands waiting messages to its batch
// handler together (Consumer.Batch; never for an Ordered one).
func batching(c bus.Consumer) bool { return c.Batch != nil && !c.Ordered }

type subscription struct {
	bus  *Bus
	c    bus.Consumer
	h    bus.Handler
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext

	// With a batch handler: delivered messages wait in queue for the
	// batcher goroutine, which closes batched once queue is closed and
	// drained.
	batch   bus.BatchHandler
	queue   chan jetstream.Msg
	batched chan struct{}
}

// Lag implements bus.Subscription from the server's consumer info.
func (s *subscription) Lag(ctx context.Context) (uint64, error) {
	info, err := s.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("lag of %s: %w", s.c.Name, err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// handle runs the handler on one message and settles it.
func (s *subscription) handle(msg jetstream.Msg) {
	m, ok := s.message(msg)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.AckWait)
	defer cancel()
	s.settle(msg, m, s.h(ctx, m))
}

// message returns msg as a bus.Message; a message without JetStream
// metadata, which cannot be settled, is terminated and not ok.
func (s *subscription) message(msg jetstream.Msg) (bus.Message, bool) {
	md, err := msg.Metadata()
	if err != nil {
		s.bus.log.Error("message without metadata", "consumer", s.c.Name, "err", err)
		_ = msg.Term()
		return bus.Message{}, false
	}
	return bus.Message{
		Subject:     msg.Subject(),
		ID:          cmp.Or(msg.Headers().Get(HeaderEventID), msg.Headers().Get(jetstream.MsgIDHeader)),
		Data:        msg.Data(),
		Attempt:     int(md.NumDelivered),
		Sequence:    md.Sequence.Stream,
		TraceParent: msg.Headers().Get(HeaderTraceParent),
	}, true
}

// settle acknowledges msg if its handler succeeded (herr nil); otherwise it
// asks for a redelivery after the backoff or, after the last attempt,
// dead-letters it.
func (s *subscription) settle(msg jetstream.Msg, m bus.Message, herr error) {
	if herr == nil {
		if err := msg.Ack(); err != nil {
			s.bus.log.Warn("ack failed; the message will be redelivered", "consumer", s.c.Name, "seq", m.Sequence, "err", err)
		}
		return
	}
	if !s.c.LastAttempt(m.Attempt) {
		// Debug: the handler's caller logs the failure with its trace (see
		// service.TraceHandler); this line adds only the backoff.
		s.bus.log.Debug("handler failed; will retry", "consumer", s.c.Name, "seq", m.Sequence,
			"attempt", m.Attempt, "of", s.c.MaxDeliver, "err", herr)
		_ = msg.NakWithDelay(s.c.Delay(m.Attempt))
		return
	}
	// The handler may have used up ctx; dead-lettering gets its own deadline,
	// or a handler that always times out would be retried forever.
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	if err := s.deadLetter(dctx, msg, m, herr); err != nil {
		s.bus.log.Error("dead-letter failed; will retry", "consumer", s.c.Name, "seq", m.Sequence, "err", err)
		_ = msg.NakWithDelay(s.c.Delay(m.Attempt))
		return
	}
	s.bus.log.Error("message dead-lettered", "consumer", s.c.Name, "seq", m.Sequence,
		"subject", m.Subject, "attempts", m.Attempt, "err", herr)
	_ = msg.TermWithReason("dead-lettered")
}

func (s *subscription) deadLetter(ctx context.Context, msg jetstream.Msg, m bus.Message, cause error) error {
	errText := cause.Error()
	if len(errText) > 4096 {
		errText = strings.ToValidUTF8(errText[:4096], "") // drop a cut rune
	}
	h := nats.Header{}
	h.Set(HeaderConsumer, s.c.Name)
	h.Set(HeaderStream, s.c.Stream)
	h.Set(HeaderSequence, strconv.FormatUint(m.Sequence, 10))
	h.Set(HeaderSubject, m.Subject)
	h.Set(HeaderMsgID, m.ID)
	h.Set(HeaderError, errText)
	h.Set(HeaderAttempts, strconv.Itoa(m.Attempt))
	h.Set(HeaderFailedAt, time.Now().UTC().Format(time.RFC3339Nano))
	if m.TraceParent != "" {
		h.Set(HeaderTraceParent, m.TraceParent)
	}
	dl := &nats.Msg{Subject: "dlq." + s.c.Name, Data: msg.Data(), Header: h}
	id := s.c.Name + "/" + s.c.Stream + "/" + strconv.FormatUint(m.Sequence, 10)
	_, err := s.bus.js.PublishMsg(ctx, dl, jetstream.WithMsgID(id))
	if err != nil {
		return fmt.Errorf("publish to %s: %w", DLQStream, err)
	}
	return nil
}

// Stop implements bus.Subscription: it drains the consumer, so messages
// already fetched are handled and acknowledged, then returns. A message the
// server sends while the subscription closes reaches nobody; the server
// holds it as pending and delivers it again after AckWait (see
// nats-io/nats.go#898), so it is late, never lost.
func (s *subscription) Stop(ctx context.Context) error {
	s.cc.Drain()
	select {
	case <-s.cc.Closed():
	case <-ctx.Done():
		s.cc.Stop()
		return fmt.Errorf("stop consumer %s: %w", s.c.Name, ctx.Err())
	}
	if s.queue == nil {
		return nil
	}
	// No message is delivered any more: let the batcher finish what waits.
	close(s.queue)
	select {
	case <-s.batched:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop consumer %s: %w", s.c.Name, ctx.Err())
	}
}
