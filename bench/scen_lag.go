package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// runLag places orders at a fixed rate and measures each one's
// propagation lag, from its event's creation in orders to the query
// service applying it, against raw JetStream at the same rate: the time
// from an event's creation to its receipt by a durable consumer, the floor
// of any propagation through the bus. The bus fsyncs every write, as
// Herald's does by default.
func runLag(ctx context.Context, e *env) error {
	r, err := e.startShopRig(ctx, "lag", "", false)
	if err != nil {
		return err
	}
	per := max(e.sz.LagTotal/time.Duration(e.sz.Rounds), time.Second).Round(100 * time.Millisecond)
	e.note("%.0f orders/s for %s per side, in %d rounds of %s", e.sz.LagRate, e.sz.LagTotal, e.sz.Rounds, per)
	c := &Comparison{
		Name: fmt.Sprintf("%.0f orders/s", e.sz.LagRate),
		Show: []string{"lag_p50_ms", "lag_p99_ms", "lag_max_ms", "bus_lag_p50_ms", "bus_lag_p99_ms", "view_lag_p50_ms", "view_lag_p99_ms", "per_s"},
		Targets: []Target{
			{Text: "propagation lag p99 ≤ 10 ms", Key: "lag_p99_ms", Op: "<=", Value: 10},
		},
	}
	load := func(round int) Load {
		return Load{Conns: e.sz.Conns, Duration: per, Rate: e.sz.LagRate, Raw: r.postOrders(), Seed: uint64(200 + round)}
	}
	herald := side{
		what: "herald orders → bus → query",
		warm: func(ctx context.Context) error {
			l := load(0)
			l.Duration = e.sz.Warm
			_, err := r.heraldRound(ctx, "lag: warming up herald", 0, l, false, false)
			return err
		},
		run: func(ctx context.Context, round int) (Figures, error) {
			return r.heraldRound(ctx, fmt.Sprintf("lag: herald, round %d/%d", round, e.sz.Rounds), round, load(round), true, round == 1)
		},
	}
	rnd := rand.New(rand.NewPCG(9, 9))
	raw := func(ctx context.Context, name string, d time.Duration, what string) (Figures, error) {
		stop := e.p.track(what, nil, "")
		lags, elapsed, err := r.raw.lagRound(ctx, "RAW", "raw.order.created", name, e.sz.LagRate, d,
			func(int64) ([]byte, string) { return r.rawOrder(rnd) })
		stop()
		if err != nil {
			return nil, err
		}
		f := Figures{"per_s": float64(len(lags.Total)) / elapsed.Seconds()}
		lags.figures(f)
		return f, nil
	}
	anchor := side{
		what: "raw JetStream publish → durable consumer",
		warm: func(ctx context.Context) error {
			_, err := raw(ctx, "raw-lag-warm", e.sz.Warm, "lag: warming up raw JetStream")
			return err
		},
		run: func(ctx context.Context, round int) (Figures, error) {
			return raw(ctx, fmt.Sprintf("raw-lag-%d", round), per, fmt.Sprintf("lag: raw JetStream, round %d/%d", round, e.sz.Rounds))
		},
	}
	return e.alternate(ctx, c, herald, anchor)
}
