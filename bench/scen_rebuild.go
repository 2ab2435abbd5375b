package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

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
	// Each round's replica has a consumer of its own, which the bus's
	// permissions must name.
	var replicas []string
	for round := range e.sz.Rounds + 2 {
		replicas = append(replicas, rebuildReplica(round))
	}
	bus, nc, err := e.seededBus(ctx, "bus", d, n, "rebuild", "--query-replicas", strings.Join(replicas, ","))
	if err != nil {
		return err
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
	dir, err := e.dir("replica-" + replica)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secs := 10
	if limit > 0 {
		secs = min(secs, int(limit.Seconds())-1)
	}
	var wait func()
	c, err := e.catchUp(ctx, fmt.Sprintf("rebuild: herald replica, round %d/%d", round, e.sz.Rounds), busURL, dir, replica, limit, nil,
		func(q *proc) { wait = e.profile(q.URL("query"), "query", round, secs) })
	if err != nil {
		return nil, err
	}
	rss := peakRSS(c.query.Pid())
	wait()
	if err := e.procs.stop(c.query); err != nil {
		e.note("stopping replica %s: %v", replica, err)
	}
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nc.js.DeleteConsumer(dctx, event.ShopStream, c.consumer); err != nil {
		e.note("deleting consumer %s: %v", c.consumer, err)
	}
	if c.complete && c.applied < int64(n) {
		e.note("replica %s reached lag 0 having applied %d of %d events", replica, c.applied, n)
	}
	f := c.figures()
	if rss > 0 {
		f["peak_rss_mb"] = float64(rss) / (1 << 20)
	}
	return f, nil
}

// caughtUp is how a fresh query replica caught up with its stream (see
// catchUp).
type caughtUp struct {
	query    *proc // still running
	consumer string
	applied  int64 // events handled right
	elapsed  time.Duration
	complete bool                     // its consumer's lag reached 0
	cpu      map[string]time.Duration // CPU time used meanwhile, by process (see cpuMeter)
}

// figures are per_s, events, seconds and complete.
func (c caughtUp) figures() Figures {
	return Figures{"per_s": float64(c.applied) / c.elapsed.Seconds(), "events": float64(c.applied), "seconds": c.elapsed.Seconds(), "complete": b2f(c.complete)}
}

// catchUp starts herald serve query, a fresh replica (called replica, or
// the unnamed query if replica is ""), on the empty folder dir against the
// bus at busURL, and waits until its consumer's lag is 0 or limit (if > 0)
// passes, showing its progress as what. started, if set, is called once
// the replica serves. It measures the CPU time of the replica and of the
// children of cpuOf (by name) from before the replica starts until then.
// The replica is left running.
func (e *env) catchUp(ctx context.Context, what, busURL, dir, replica string, limit time.Duration, cpuOf map[string]*proc, started func(q *proc)) (caughtUp, error) {
	c := caughtUp{consumer: "shop-query"}
	var extra []string
	if replica != "" {
		c.consumer += "-" + replica
		extra = []string{"--replica", replica}
	}
	var applied atomic.Int64
	stop := e.p.track(what, &applied, "events")
	defer stop()
	cpu := startCPU(cpuOf)
	start := time.Now()
	q, err := e.serve(ctx, "query", busURL, dir, extra...)
	if err != nil {
		return c, err
	}
	cpu.addNew("query", q)
	c.query = q
	if started != nil {
		started(q)
	}
	handled := `herald_events_handled_total{consumer="` + c.consumer + `",result="ok"}`
	for {
		lag, err := e.metric(ctx, q.URL("query"), `herald_consumer_lag{consumer="`+c.consumer+`"}`)
		if v, herr := e.metric(ctx, q.URL("query"), handled); herr == nil {
			applied.Store(int64(v))
		}
		if err == nil && lag == 0 {
			c.complete = true
			break
		}
		if limit > 0 && time.Since(start) >= limit {
			break
		}
		if !q.alive() {
			return c, fmt.Errorf("the query replica exited; its log %s ends:\n%s", q.logPath, q.tail())
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return c, ctx.Err()
		case <-t.C:
		}
	}
	c.elapsed = time.Since(start)
	c.cpu = cpu.used()
	c.applied = applied.Load()
	return c, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rebuildReplica names the query replica of a rebuild round.
func rebuildReplica(round int) string { return fmt.Sprintf("bench-%d", round) }
