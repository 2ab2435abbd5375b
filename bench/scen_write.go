package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/event"
)

// shopRig is Herald's write path for the write-to-view and lag scenarios:
// a bus, orders and query, each its own process, on seeded data; and a
// second bus of the same kind for the raw JetStream anchor, with stream
// RAW.
type shopRig struct {
	e              *env
	data           string
	busURL         string
	nc             *natsConn // to Herald's bus
	ordersURL      string
	queryURL       string
	raw            *natsConn        // to the anchor's bus
	procs          map[string]*proc // bus, orders, query: whose CPU a round measures
	rawBus         *proc
	nextID         atomic.Int64
	users, product int
	tag            string // added to the names of its profiles ("orders-<tag>"), so two rigs of one scenario keep theirs apart
}

// startShopRig starts a rig whose data, processes and logs are named
// after name; its profiles are named after tag, if set. serveArgs are
// added to orders' and query's herald serve.
func (e *env) startShopRig(ctx context.Context, name, tag string, noFsync bool, serveArgs ...string) (*shopRig, error) {
	data, err := e.shopData(ctx, name+"-data")
	if err != nil {
		return nil, err
	}
	bus, nc, err := e.startBus(ctx, name+"-bus", noFsync)
	if err != nil {
		return nil, err
	}
	extra := append([]string(nil), serveArgs...)
	qextra := append([]string(nil), serveArgs...)
	if noFsync {
		// As herald up --no-fsync does: no fsync in the services' SQLite
		// either; and atomic batches save fsyncs, so on a bus that makes
		// none they only cost.
		extra = append(extra, "--no-fsync", "--no-batches")
		qextra = append(qextra, "--no-fsync")
	}
	orders, err := e.serve(ctx, "orders", bus.URL("bus"), data, extra...)
	if err != nil {
		return nil, err
	}
	query, err := e.serve(ctx, "query", bus.URL("bus"), data, qextra...)
	if err != nil {
		return nil, err
	}
	rawBus, raw, err := e.startBus(ctx, name+"-raw-bus", noFsync)
	if err != nil {
		return nil, err
	}
	if err := raw.ensureStream(ctx, "RAW", "raw.>"); err != nil {
		return nil, err
	}
	r := &shopRig{e: e, data: data, busURL: bus.URL("bus"), nc: nc, ordersURL: orders.URL("orders"), queryURL: query.URL("query"), raw: raw,
		users: e.data.Users, product: e.data.Products, tag: tag,
		procs: map[string]*proc{"bus": bus, "orders": orders, "query": query}, rawBus: rawBus}
	r.nextID.Store(int64(e.data.Users*e.data.OrdersPerUser) + 1)
	return r, nil
}

// postOrders places orders of a random product for a random user, as the
// operator (who may order for any user: the load is that of many users,
// each of whom would send a token of their own), and expects 201; on the
// raw load's connections, so that the generator's CPU is not what limits
// the path.
func (r *shopRig) postOrders() *RawGets {
	h := bearerHeader(r.e.adminToken())
	h.Set("Content-Type", "application/json")
	return &RawGets{URL: r.ordersURL, Header: h, Post: func(rnd *rand.Rand) (string, []byte, func(int, []byte) Outcome) {
		body := `{"userId":` + strconv.Itoa(1+rnd.IntN(r.users)) + `,"productId":` + strconv.Itoa(1+rnd.IntN(r.product)) + `}`
		return "/orders", []byte(body), func(status int, _ []byte) Outcome {
			if status == http.StatusCreated {
				return OK
			}
			return Failed
		}
	}}
}

// heraldRound runs load l of orders, waits until every order it placed is
// in the query's read model, and measures: per_s, the orders applied per
// second from the load's start to the last one applied; accepted_per_s,
// the orders answered 201 per second of load; the propagation lag of each
// (lag_p50_ms and so on, and split at the bus, see lagSample), the POST
// latency (p50_ms and so on), and the CPU time per order applied of the
// bench (the load generator), the bus, orders and query, from the load's
// start until the view has every order (cpu_us_per_event, their sum, and
// cpu_us_bench and so on; see cpuMeter).
//
// With profile set it saves a CPU profile of orders and of query during
// the load; with trace set, an execution trace of orders too.
func (r *shopRig) heraldRound(ctx context.Context, what string, round int, l Load, profile, trace bool) (Figures, error) {
	e := r.e
	from, err := r.nc.bus.LastSeq(ctx, event.ShopStream)
	if err != nil {
		return nil, err
	}
	var waits []func()
	secs := profileSeconds(l.Duration)
	orders, query := "orders", "query"
	if r.tag != "" {
		orders, query = orders+"-"+r.tag, query+"-"+r.tag
	}
	if profile {
		waits = append(waits, e.profile(r.ordersURL, orders, round, secs), e.profile(r.queryURL, query, round, secs))
	}
	if trace {
		waits = append(waits, e.trace(r.ordersURL, orders, round, min(secs, 2)))
	}
	cpu := startCPU(r.procs)
	res := e.loadRound(ctx, what, l)
	for _, w := range waits {
		w()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.OK == 0 {
		return nil, fmt.Errorf("no order placed: %s", res.FirstError)
	}
	if res.Failed > 0 {
		e.note("%s: %d of %d orders failed; first: %s", what, res.Failed, res.Requests, firstLine(res.FirstError))
	}
	stop := e.p.track(what+": waiting for the view", nil, "")
	err = poll(ctx, e.sz.Settle, 20*time.Millisecond, "orders visible in the query service", func() (bool, error) {
		pending, err := e.metric(ctx, r.ordersURL, "herald_outbox_pending")
		if err != nil || pending > 0 {
			return false, err
		}
		lag, err := e.metric(ctx, r.queryURL, `herald_consumer_lag{consumer="shop-query"}`)
		return lag == 0, err
	})
	stop()
	if err != nil {
		return nil, err
	}
	used := cpu.used()
	lags, err := viewLags(ctx, r.nc, from, filepath.Join(r.data, "shop-query.db"))
	if err != nil {
		return nil, err
	}
	if lags.Missing > 0 {
		return nil, fmt.Errorf("%d of %d orders' events are not in the query's read model after its lag reached 0", lags.Missing, lags.Missing+len(lags.Total))
	}
	n := len(lags.Total)
	f := Figures{"accepted_per_s": res.Throughput(), "orders": float64(n), "errors": float64(res.Failed)}
	if span := lags.Last.Sub(res.Start); span > 0 {
		f["per_s"] = float64(n) / span.Seconds()
	}
	lags.figures(f)
	latencyFigures(f, "", res.Latencies)
	cpuFigures(f, used, int64(n))
	return f, nil
}

// rawOrder returns a new order event for the raw anchors.
func (r *shopRig) rawOrder(rnd *rand.Rand) ([]byte, string) {
	return rawEvent(r.nextID.Add(1), 1+rnd.Int64N(int64(r.users)), 1+rnd.Int64N(int64(r.product)))
}

// runWriteToView places orders as fast as 64 connections can, with the bus
// fsyncing every write and then with it relaxed, against the raw
// JetStream publish rate of events of the same size under the same fsync
// setting.
func runWriteToView(ctx context.Context, e *env) error {
	for _, mode := range []struct {
		name    string
		noFsync bool
		target  Target
	}{
		{"bus fsync on", false, Target{Text: "orders/s ≥ 0.9x the raw JetStream publish rate, fsync on", Key: "per_s", Ratio: true, Op: ">=", Value: 0.9}},
		{"bus fsync off", true, Target{Text: "≥ 10,000 orders/s with the bus's fsync relaxed (herald bus --no-fsync)", Key: "per_s", Op: ">=", Value: 10000}},
	} {
		short := "fsync"
		if mode.noFsync {
			short = "nofsync"
		}
		r, err := e.startShopRig(ctx, short, short, mode.noFsync)
		if err != nil {
			return err
		}
		c := &Comparison{
			Name:    mode.name,
			Show:    []string{"per_s", "accepted_per_s", "lag_p99_ms", "cpu_us_per_event", "cpu_us_orders", "cpu_us_query", "cpu_us_bus", "cpu_us_bench"},
			Targets: []Target{mode.target},
		}
		load := func(round int) Load {
			return Load{Conns: e.sz.Conns, Duration: e.sz.Duration, Raw: r.postOrders(), Seed: uint64(100 + round)}
		}
		herald := side{
			what: "herald orders → bus → query",
			warm: func(ctx context.Context) error {
				l := load(0)
				l.Duration = e.sz.Warm
				_, err := r.heraldRound(ctx, "write-to-view: warming up herald", 0, l, false, false)
				return err
			},
			run: func(ctx context.Context, round int) (Figures, error) {
				return r.heraldRound(ctx, fmt.Sprintf("write-to-view, %s: herald, round %d/%d", mode.name, round, e.sz.Rounds), round, load(round), true, false)
			},
		}
		rnd := rand.New(rand.NewPCG(7, 7))
		anchor := e.rawPublishSide(r.raw, r.rawBus, "write-to-view, "+mode.name, func() (*nats.Msg, string, bool) {
			data, id := r.rawOrder(rnd)
			return &nats.Msg{Subject: "raw.order.created", Data: data}, id, true
		})
		if err := e.alternate(ctx, c, herald, anchor); err != nil {
			return err
		}
		if err := e.procs.Close(); err != nil {
			e.note("stopping %s: %v", mode.name, err)
		}
	}
	return nil
}
