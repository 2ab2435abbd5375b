package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/event"
)

// runRebuild publishes a history of shop events and starts a herald serve
// query that applies all of it. Then, each round: a raw JetStream durable
// pull consumer fetching and acking the stream; a fresh query replica
// (empty --data, a --replica name of its own) timed until its consumer's
// lag is 0; herald rebuild query building the running query's next
// generation from the stream, blue/green, and switching to it; the same
// with a read load on the query; and that read load alone. The fresh
// replica and the blue/green rebuild are each compared with the raw
// consumer, the reads during a rebuild with the reads alone. A rebuild
// still going at the rebuild limit is measured on what it did so far.
func runRebuild(ctx context.Context, e *env) error {
	n := e.sz.RebuildEvents
	d := ForEvents(2, n, e.sz.Products)
	// Seed on a bus without fsync, then run the rounds on the same storage
	// with fsync on, as Herald's bus runs by default.
	seedBus, nc, err := e.startBus(ctx, "bus", true)
	if err != nil {
		return err
	}
	if err := nc.ensureStream(ctx, event.ShopStream, event.ShopSubjects); err != nil {
		return err
	}
	type msg struct {
		subject, id string
		data        []byte
	}
	ch := make(chan msg, 4096)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		_ = d.Events(n, func(ev event.Envelope) error {
			b, err := ev.Encode()
			if err != nil {
				return err
			}
			select {
			case ch <- msg{event.Subject(ev.Type), ev.ID, b}:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
	}()
	var sent atomic.Int64
	stop := e.p.track(fmt.Sprintf("publishing %s events", thousands(float64(n))), &sent, "events")
	res, err := nc.publishAll(ctx, time.Time{}, func() (*nats.Msg, string, bool) {
		m, ok := <-ch
		if !ok {
			return nil, "", false
		}
		sent.Add(1)
		return &nats.Msg{Subject: m.subject, Data: m.data}, m.id, true
	})
	stop()
	if err != nil {
		return err
	}
	if res.Acked != int64(n) {
		return fmt.Errorf("published %d of %d events (%d failed)", res.Acked, n, res.Errors)
	}
	e.note("%s events (%s users, %d products, their orders and cancellations) published at %s events/s without fsync",
		thousands(float64(n)), thousands(float64(d.Users)), d.Products, thousands(res.Rate()))
	nc.Close()
	if err := e.procs.stop(seedBus); err != nil {
		return err
	}
	// Each round's replica has a consumer of its own, which the bus's
	// permissions must name.
	var replicas []string
	for round := range e.sz.Rounds + 2 {
		replicas = append(replicas, rebuildReplica(round))
	}
	bus, nc, err := e.startBus(ctx, "bus", false, "--query-replicas", strings.Join(replicas, ","))
	if err != nil {
		return err
	}
	if last, err := nc.bus.LastSeq(ctx, event.ShopStream); err != nil || last != uint64(n) {
		return fmt.Errorf("after the bus restarted, stream %s ends at %d (%v), want %d", event.ShopStream, last, err, n)
	}
	limit := e.sz.RebuildLimit
	if limit > 0 {
		e.note("each rebuild round is limited to %s: one still running then is measured on the events it applied so far", limit)
	}
	bg, err := e.startBlueGreen(ctx, bus.URL("bus"), d, n)
	if err != nil {
		return err
	}
	fresh := &Comparison{
		Name: thousands(float64(n)) + " events",
		Show: []string{"per_s", "events", "seconds", "peak_rss_mb"},
		Targets: []Target{
			{Text: "rebuild ≥ 0.8x the raw consume-and-ack rate", Key: "per_s", Ratio: true, Op: ">=", Value: 0.8},
			{Text: "the query process's peak RSS ≤ 300 MB", Key: "peak_rss_mb", Op: "<=", Value: 300},
		},
	}
	blueGreenC := &Comparison{
		Name: "blue/green, " + thousands(float64(n)) + " events",
		Show: []string{"per_s", "events", "seconds", "wall_s"},
		Targets: []Target{
			{Text: "herald rebuild query ≥ 0.8x the raw consume-and-ack rate", Key: "per_s", Ratio: true, Op: ">=", Value: 0.8},
		},
	}
	readsC := &Comparison{
		Name: fmt.Sprintf("reads during blue/green, %d/s", blueGreenReadRate),
		Show: []string{"p99_ms", "p50_ms", "max_ms", "ok_share", "rebuild_per_s"},
		Targets: []Target{
			{Text: "read p99 during a blue/green rebuild ≤ 2x without one", Key: "p99_ms", Ratio: true, Op: "<=", Value: 2},
			{Text: "every read during a blue/green rebuild answered 200 and right", Key: "ok_share", Op: ">=", Value: 1},
		},
	}
	raw := side{
		what: "raw JetStream durable pull consumer, fetch and ack",
		run: func(ctx context.Context, round int) (Figures, error) {
			var got atomic.Int64
			stop := e.p.track(fmt.Sprintf("rebuild: raw consume, round %d/%d", round, e.sz.Rounds), &got, "events")
			k, elapsed, complete, err := nc.consumeAll(ctx, event.ShopStream, fmt.Sprintf("bench-raw-%d", round), limit, &got)
			stop()
			if err != nil {
				return nil, err
			}
			return Figures{"per_s": float64(k) / elapsed.Seconds(), "events": float64(k), "seconds": elapsed.Seconds(), "complete": b2f(complete)}, nil
		},
	}
	freshSide := side{
		what: "fresh herald query replica",
		run: func(ctx context.Context, round int) (Figures, error) {
			return e.rebuildRound(ctx, bus.URL("bus"), nc, round, n, limit)
		},
	}
	blueGreenSide := side{
		what: "herald rebuild query against a herald serve query that applied the stream",
		run: func(ctx context.Context, round int) (Figures, error) {
			return bg.rebuild(ctx, fmt.Sprintf("rebuild: blue/green, round %d/%d", round, e.sz.Rounds), limit)
		},
	}
	// The reads without a rebuild run as long as the round's reads with one.
	var readFor time.Duration
	readsDuring := side{
		what: fmt.Sprintf("GET /users/{id}/products at %d/s over %d connections during herald rebuild query", blueGreenReadRate, blueGreenReadConns),
		run: func(ctx context.Context, round int) (Figures, error) {
			f, took, err := bg.readsDuringRebuild(ctx, round, limit)
			readFor = took
			return f, err
		},
	}
	readsAlone := side{
		what: "the same reads, no rebuild",
		run: func(ctx context.Context, round int) (Figures, error) {
			res := e.loadRound(ctx, fmt.Sprintf("rebuild: reads alone, round %d/%d", round, e.sz.Rounds), bg.reads(round, max(readFor, e.sz.Duration)))
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if res.Failed+res.Wrong > 0 {
				e.note("reads alone round %d: %d failed and %d wrong of %d; first: %s", round, res.Failed, res.Wrong, res.Requests, firstLine(res.FirstError))
			}
			return res.Figures(), nil
		},
	}
	e.note("blue/green: herald rebuild query (--restart) against the herald serve query, each round building its next generation from the %s events and switching to it; reads: %d/s open-loop over %d connections, answers of %s users checked",
		thousands(float64(n)), blueGreenReadRate, blueGreenReadConns, thousands(float64(len(bg.answers))))
	// Raw first in each round, then the sides compared with it, then the
	// reads with a rebuild and without: R F B BR A, R F B BR A, ...
	figs, err := e.rounds(ctx, raw, freshSide, blueGreenSide, readsDuring, readsAlone)
	if err != nil {
		return err
	}
	e.compare(fresh, freshSide, figs[1], raw, figs[0])
	e.compare(blueGreenC, blueGreenSide, figs[2], raw, figs[0])
	e.compare(readsC, readsDuring, figs[3], readsAlone, figs[4])
	return nil
}

// rebuildRound starts a fresh query replica on an empty data folder and
// waits until its consumer has nothing left (or limit passes), then reads
// its peak RSS, stops it and deletes its durable consumer.
func (e *env) rebuildRound(ctx context.Context, busURL string, nc *natsConn, round, n int, limit time.Duration) (Figures, error) {
	replica := rebuildReplica(round)
	consumer := "shop-query-" + replica
	dir, err := e.dir("replica-" + replica)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var applied atomic.Int64
	stop := e.p.track(fmt.Sprintf("rebuild: herald replica, round %d/%d", round, e.sz.Rounds), &applied, "events")
	start := time.Now()
	q, err := e.serve(ctx, "query", busURL, dir, "--replica", replica)
	if err != nil {
		stop()
		return nil, err
	}
	secs := 10
	if limit > 0 {
		secs = min(secs, int(limit.Seconds())-1)
	}
	wait := e.profile(q.URL("query"), "query", round, secs)
	complete := false
	handled := `herald_events_handled_total{consumer="` + consumer + `",result="ok"}`
	for {
		lag, err := e.metric(ctx, q.URL("query"), `herald_consumer_lag{consumer="`+consumer+`"}`)
		if v, herr := e.metric(ctx, q.URL("query"), handled); herr == nil {
			applied.Store(int64(v))
		}
		if err == nil && lag == 0 {
			complete = true
			break
		}
		if limit > 0 && time.Since(start) >= limit {
			break
		}
		if !q.alive() {
			stop()
			return nil, fmt.Errorf("the query replica exited; its log %s ends:\n%s", q.logPath, q.tail())
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	elapsed := time.Since(start)
	stop()
	rss := peakRSS(q.Pid())
	wait()
	if err := e.procs.stop(q); err != nil {
		e.note("stopping replica %s: %v", replica, err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nc.js.DeleteConsumer(dctx, event.ShopStream, consumer); err != nil {
		e.note("deleting consumer %s: %v", consumer, err)
	}
	k := applied.Load()
	if complete && k < int64(n) {
		e.note("replica %s reached lag 0 having applied %d of %d events", replica, k, n)
	}
	f := Figures{"per_s": float64(k) / elapsed.Seconds(), "events": float64(k), "seconds": elapsed.Seconds(), "complete": b2f(complete)}
	if rss > 0 {
		f["peak_rss_mb"] = float64(rss) / (1 << 20)
	}
	return f, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rebuildReplica names the query replica of a rebuild round.
func rebuildReplica(round int) string { return fmt.Sprintf("bench-%d", round) }
