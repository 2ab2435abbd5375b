package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/shop/orders"
)

// Window is how many asynchronous publishes may wait for their ack at once,
// in the raw JetStream anchors and when seeding a stream: as many as the
// HTTP load generator has connections, so both sides keep the same number
// of writes in flight.
const Window = 64

// stallWait is how long an asynchronous publish waits for room in the
// window: a fsync that takes a while (the disk is shared) must slow the
// publisher down, not fail it (nats.go's default is 200ms).
const stallWait = 30 * time.Second

// natsConn is the bench's own client connection to a bus, with a JetStream
// context that publishes asynchronously with a window of Window, and
// Herald's Bus on the same connection for what Herald's own code reads.
type natsConn struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	bus *hjs.Bus

	pubErrs atomic.Int64
}

func dialNATS(url, creds string) (*natsConn, error) {
	opts := []nats.Option{nats.Name("herald bench"), nats.MaxReconnects(-1)}
	if c, ok := hjs.InDir(creds, hjs.AdminIdentity); ok {
		more, err := c.Options()
		if err != nil {
			return nil, err
		}
		opts = append(opts, more...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	c := &natsConn{nc: nc}
	c.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(Window),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { c.pubErrs.Add(1) }))
	if err == nil {
		c.bus, err = hjs.New(nc, hjs.Options{})
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *natsConn) Close() { c.nc.Close() }

// ensureStream creates stream name over subjects as Herald makes its own
// (file storage, one replica, a 2-minute duplicate window).
func (c *natsConn) ensureStream(ctx context.Context, name string, subjects ...string) error {
	_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: subjects, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardNew, Duplicates: 2 * time.Minute, MaxBytes: -1, AllowDirect: true,
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	return nil
}

// publishResult is what a run of asynchronous publishes achieved.
type publishResult struct {
	Acked   int64
	Errors  int64
	Elapsed time.Duration // from the first publish to the last ack
}

// Rate is acknowledged messages per second.
func (r publishResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Elapsed.Seconds()
}

// publishAll publishes messages from next, asynchronously with at most
// Window waiting for an ack, until next returns false, ctx ends or
// deadline (if not zero) passes, then waits for the outstanding acks. Each
// message carries its id as Nats-Msg-Id when it has one.
func (c *natsConn) publishAll(ctx context.Context, deadline time.Time, next func() (m *nats.Msg, id string, ok bool)) (publishResult, error) {
	errs0 := c.pubErrs.Load()
	start := time.Now()
	var sent int64
	for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
		m, id, ok := next()
		if !ok {
			break
		}
		opts := []jetstream.PublishOpt{jetstream.WithStallWait(stallWait)}
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		if _, err := c.js.PublishMsgAsync(m, opts...); err != nil {
			return publishResult{}, fmt.Errorf("publish %s: %w", m.Subject, err)
		}
		sent++
	}
	select {
	case <-c.js.PublishAsyncComplete():
	case <-time.After(30 * time.Second):
		return publishResult{}, errors.New("publish: acks still outstanding after 30s")
	case <-ctx.Done():
		return publishResult{}, ctx.Err()
	}
	errs := c.pubErrs.Load() - errs0
	return publishResult{Acked: sent - errs, Errors: errs, Elapsed: time.Since(start)}, nil
}

// rawPublishSide is the anchor of a throughput comparison: raw JetStream
// asynchronous publishing on raw, a client of bus, Window in flight, of
// the messages next returns (see publishAll), for the round's length.
// Beside per_s, it measures the CPU time per event acknowledged of the
// bench (the publisher) and of bus (cpu_us_bench, cpu_us_bus and their
// sum, cpu_us_per_event). scenario begins its progress lines.
func (e *env) rawPublishSide(raw *natsConn, bus *proc, scenario string, next func() (*nats.Msg, string, bool)) side {
	round := func(ctx context.Context, d time.Duration, what string) (Figures, error) {
		var sent atomic.Int64
		stop := e.p.track(what, &sent, "events")
		cpu := startCPU(map[string]*proc{"bus": bus})
		res, err := raw.publishAll(ctx, time.Now().Add(d), func() (*nats.Msg, string, bool) {
			sent.Add(1)
			return next()
		})
		used := cpu.used()
		stop()
		if err != nil {
			return nil, err
		}
		if res.Errors > 0 {
			e.note("%s: %d publishes failed", what, res.Errors)
		}
		f := Figures{"per_s": res.Rate(), "errors": float64(res.Errors)}
		cpuFigures(f, used, res.Acked)
		return f, nil
	}
	return side{
		what: fmt.Sprintf("raw JetStream async publish (window %d)", Window),
		warm: func(ctx context.Context) error {
			_, err := round(ctx, e.sz.Warm, scenario+": warming up raw publish")
			return err
		},
		run: func(ctx context.Context, n int) (Figures, error) {
			return round(ctx, e.sz.Duration, fmt.Sprintf("%s: raw publish, round %d/%d", scenario, n, e.sz.Rounds))
		},
	}
}

// consumeAll creates the durable pull consumer name on stream, configured
// as Herald's consumers are (explicit ack, at most 1000 unacknowledged),
// fetches batches of 64 (the batch Herald's consumers pull) and acks every
// message, up to the stream's last sequence or until limit (if > 0) has
// passed, and deletes the consumer. It returns how many it received, how
// long that took, and whether it reached the last sequence. Each receipt
// adds one to count.
//
// It fetches rather than using Consume: with nats.go v1.55.0, a Consume
// callback that acks at once (tens of thousands of messages a second) was
// seen to stop pulling for good, the consumer showing no waiting request,
// nothing unacknowledged and most of the stream pending.
func (c *natsConn) consumeAll(ctx context.Context, stream, name string, limit time.Duration, count *atomic.Int64) (int64, time.Duration, bool, error) {
	last, err := c.bus.LastSeq(ctx, stream)
	if err != nil {
		return 0, 0, false, err
	}
	start := time.Now()
	cons, err := c.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: name, DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1000,
	})
	if err != nil {
		return 0, 0, false, fmt.Errorf("consumer %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.js.DeleteConsumer(dctx, stream, name)
	}()
	var got int64
	complete := false
	for !complete && (limit <= 0 || time.Since(start) < limit) {
		if err := ctx.Err(); err != nil {
			return 0, 0, false, err
		}
		batch, err := cons.Fetch(64, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return 0, 0, false, fmt.Errorf("fetch from %s: %w", name, err)
		}
		for m := range batch.Messages() {
			if err := m.Ack(); err != nil {
				return 0, 0, false, fmt.Errorf("ack: %w", err)
			}
			got++
			if count != nil {
				count.Add(1)
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				complete = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
			return 0, 0, false, fmt.Errorf("fetch from %s: %w", name, err)
		}
	}
	elapsed := time.Since(start)
	// The acks were sent without waiting; make sure the server has them.
	if err := c.nc.FlushTimeout(10 * time.Second); err != nil {
		return 0, 0, false, fmt.Errorf("flush acks: %w", err)
	}
	return got, elapsed, complete, nil
}

// rawEvent returns a shop.order.created event of order id, as orders
// would publish it, encoded: the size every raw anchor publishes.
func rawEvent(id, userID, productID int64) ([]byte, string) {
	e, _ := event.New(orders.Source, event.OrderCreated, strconv.FormatInt(id, 10), 1,
		event.OrderData{ID: id, UserID: userID, ProductID: productID}) // cannot fail: plain struct
	b, _ := e.Encode()
	return b, e.ID
}

// lagRound publishes, asynchronously, an event from mk at rate per second
// for d to subject, while a durable pull consumer (created at the stream's
// end and configured as Herald's consumers are) receives and acks them. It
// returns, for each event, the time from its creation (the event's time)
// to its receipt by the consumer, split where the stream stored it, and
// how long the publishing took.
func (c *natsConn) lagRound(ctx context.Context, stream, subject, name string, rate float64, d time.Duration, mk func(i int64) ([]byte, string)) (lagSample, time.Duration, error) {
	var l lagSample
	cons, err := c.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: name, DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 1000,
	})
	if err != nil {
		return l, 0, fmt.Errorf("consumer %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.js.DeleteConsumer(dctx, stream, name)
	}()
	var (
		mu  sync.Mutex
		bad int
	)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		e, err := event.Parse(m.Data())
		md, merr := m.Metadata()
		_ = m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if err != nil || merr != nil {
			bad++
			return
		}
		l.Total = append(l.Total, now.Sub(e.Time))
		l.ToBus = append(l.ToBus, md.Timestamp.Sub(e.Time))
		l.ToView = append(l.ToView, now.Sub(md.Timestamp))
	}, jetstream.PullMaxMessages(64))
	if err != nil {
		return l, 0, fmt.Errorf("consume %s: %w", name, err)
	}
	defer cc.Stop()
	errs0 := c.pubErrs.Load()
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	var sent int64
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		if w := time.Until(at); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-ctx.Done():
				t.Stop()
				return l, 0, ctx.Err()
			case <-t.C:
			}
		}
		data, id := mk(i)
		if _, err := c.js.PublishAsync(subject, data, jetstream.WithMsgID(id), jetstream.WithStallWait(stallWait)); err != nil {
			return l, 0, fmt.Errorf("publish %s: %w", subject, err)
		}
		sent++
	}
	elapsed := time.Since(start)
	err = poll(ctx, 30*time.Second, 5*time.Millisecond, "raw events received", func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(l.Total)+bad) >= sent-(c.pubErrs.Load()-errs0), nil
	})
	if err != nil {
		return l, 0, err
	}
	cc.Stop()
	mu.Lock()
	defer mu.Unlock()
	if bad > 0 {
		return lagSample{}, 0, fmt.Errorf("%d received events do not parse", bad)
	}
	// A late redelivery may still append to l: hand out copies.
	return lagSample{Total: slices.Clone(l.Total), ToBus: slices.Clone(l.ToBus), ToView: slices.Clone(l.ToView)}, elapsed, nil
}
