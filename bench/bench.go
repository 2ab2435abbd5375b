// Package bench measures Herald on the local machine against anchors: for
// each scenario, a baseline that shows what the same work costs without
// Herald (a fixed-body HTTP handler, a query service that calls the other
// services per request, raw JetStream publishing and consuming). Herald
// and the anchor run in the same bench, in alternating short rounds, so
// their ratio holds on a noisy machine even when absolute figures drift.
//
// Herald runs as real child processes of the herald binary (herald bus,
// herald serve), on loopback ports chosen by the kernel; so do the HTTP
// anchors (herald bench-anchor). The load generator, the raw JetStream
// clients and the seeding run in the bench process. Run writes
// results.json, chart.svg, the children's logs and CPU profiles of the
// Herald services doing the work into a results folder.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options configure a run. Zero values take the defaults in their
// comments.
type Options struct {
	// Bin is the herald binary the children run. Required.
	Bin string
	// Env is added to the children's environment (which has no other
	// HERALD_* variable than these and HERALD_LOG_LEVEL=warn).
	Env []string
	// Out is the results folder. Required.
	Out string
	// Scenarios to run, in this order; default all, in registry order.
	Scenarios []string
	// Rounds per side and scenario: default 3, 1 with Quick.
	Rounds int
	// Duration of one round: default 5s, 1s with Quick.
	Duration time.Duration
	// RebuildLimit caps one rebuild round: a rebuild still running then is
	// measured on the events applied so far. Default 2m (2s with Quick);
	// negative for no limit, every rebuild running until its lag is 0.
	RebuildLimit time.Duration
	// Quick runs small data sets and short rounds: a smoke test.
	Quick bool
	// Keep keeps the scenarios' data (databases, streams) in Out/data
	// instead of deleting it.
	Keep bool
	// Hold keeps the read scenario's servers (Herald's query, the
	// fixed-body handler, the trivial server) running this long after its
	// rounds, their URLs and the operator token's file printed, for a
	// cross-check with another load generator such as wrk. Default 0: none.
	Hold time.Duration
	// Stdout gets the table; Stderr the progress. Default os.Stdout and
	// os.Stderr.
	Stdout, Stderr io.Writer
}

// Scenario is one benchmark.
type Scenario struct {
	Name        string
	Description string
	run         func(ctx context.Context, e *env) error
}

// Scenarios returns every scenario, in the order herald bench runs them.
func Scenarios() []Scenario {
	return []Scenario{
		{"read", "GET /users/{id}/products on the query service, random users, 64 connections, against a plain net/http handler returning a fixed body of the same size", runRead},
		{"dashboard", "the same reads with a herald dashboard process running, no page open, and with one live page open (GET /api/live), against the query alone: the dashboard's cost to the hot path", runDashboard},
		{"sync-vs-async", "the same question answered by a query service that calls users, orders and products per request, against Herald's query service; then with products stopped", runSyncVsAsync},
		{"write-to-view", "POST /orders, 64 connections, until each order is visible in the query service, bus fsync on and off, against raw JetStream async publishing of events of the same size", runWriteToView},
		{"lag", "a fixed rate of orders: propagation lag from the order's event to the query's commit, against raw JetStream publish-to-consume at the same rate", runLag},
		{"rebuild", "a fresh query replica building its read model from the stream, and herald rebuild query building the next generation of a running query's, against a raw JetStream consume-and-ack of the same stream; then the query's read latency during herald rebuild against without", runRebuild},
		{"scale", "a fresh query replica building its read model from a stream at 10k and 1M users, 100k and 2M events: CPU µs per event applied (query and bus) and read p99, many against few", runScale},
		{"ingress", "POST /events on the blog gateway (tutorial shape), 64 connections, against raw JetStream async publishing", runIngress},
		{"journey", "write-to-view with tracing on (spans in the in-memory ring) against --no-tracing; then a read with a fresh Herald-After token against a plain read", runJourney},
	}
}

// sizes are the data and load of a run.
type sizes struct {
	Rounds        int
	Duration      time.Duration
	Conns         int
	Users         int
	Products      int
	OrdersPerUser int
	RebuildEvents int
	RebuildLimit  time.Duration // <= 0: none
	LagRate       float64
	LagTotal      time.Duration // per side, split over the rounds
	Settle        time.Duration // longest wait for a view to catch up after a round
	Warm          time.Duration // length of the unmeasured warm-up before a side's first round
	ScaleUsers    [2]int        // the scale scenario's few and many users
	ScaleEvents   [2]int        // and its few and many events
}

func (o Options) sizes() sizes {
	s := sizes{Rounds: 3, Duration: 5 * time.Second, Conns: 64, Users: 100_000, Products: 1000, OrdersPerUser: 5,
		RebuildEvents: 1_000_000, RebuildLimit: 2 * time.Minute, LagRate: 1000, LagTotal: 20 * time.Second, Settle: 3 * time.Minute,
		Warm: 2 * time.Second, ScaleUsers: [2]int{10_000, 1_000_000}, ScaleEvents: [2]int{100_000, 2_000_000}}
	if o.Quick {
		s = sizes{Rounds: 1, Duration: time.Second, Conns: 64, Users: 1000, Products: 100, OrdersPerUser: 5,
			RebuildEvents: 20_000, RebuildLimit: 2 * time.Second, LagRate: 500, LagTotal: time.Second, Settle: time.Minute,
			Warm: 250 * time.Millisecond, ScaleUsers: [2]int{500, 5000}, ScaleEvents: [2]int{5000, 15_000}}
	}
	if o.Rounds > 0 {
		s.Rounds = o.Rounds
	}
	if o.Duration > 0 {
		s.Duration = o.Duration
		s.Warm = min(s.Warm, s.Duration/2)
	}
	switch {
	case o.RebuildLimit < 0:
		s.RebuildLimit = 0
	case o.RebuildLimit > 0:
		s.RebuildLimit = o.RebuildLimit
	}
	return s
}

// Run runs the scenarios o names, writing results.json and chart.svg into
// o.Out after each one (so an interrupted run keeps what it measured),
// and the table to o.Stdout at the end. A scenario that fails is recorded
// with its error and the next one runs. Every child process is stopped
// before Run returns, whatever the path out; if ctx ends, Run returns its
// error with the results so far.
func Run(ctx context.Context, o Options) (*Results, error) {
	if o.Bin == "" || o.Out == "" {
		return nil, errors.New("bench: Bin and Out are required")
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	var run []Scenario
	all := Scenarios()
	if len(o.Scenarios) == 0 {
		run = all
	}
	for _, name := range o.Scenarios {
		i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("bench: unknown scenario %q (want one of %s)", name, strings.Join(ScenarioNames(), ", "))
		}
		run = append(run, all[i])
	}
	sz := o.sizes()
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(out, "profiles"), 0o755); err != nil {
		return nil, fmt.Errorf("bench: results folder: %w", err)
	}
	work := filepath.Join(out, "data")
	if !o.Keep {
		if work, err = os.MkdirTemp("", "herald-bench-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
	}
	ps, err := newProcs(o.Bin, o.Env, filepath.Join(out, "logs"))
	if err != nil {
		return nil, err
	}
	defer ps.Shutdown()

	res := &Results{Started: time.Now().UTC(), Machine: machine(), Settings: Settings{
		Rounds: sz.Rounds, RoundSeconds: sz.Duration.Seconds(), Quick: o.Quick, Connections: sz.Conns,
		Users: sz.Users, OrdersPerUser: sz.OrdersPerUser, Products: sz.Products,
		RebuildEvents: sz.RebuildEvents, RebuildLimit: sz.RebuildLimit.Seconds(),
		LagRate: sz.LagRate, LagSeconds: sz.LagTotal.Seconds(), ScaleUsers: sz.ScaleUsers[:], ScaleEvents: sz.ScaleEvents[:],
	}}
	for _, s := range run {
		res.Settings.Scenarios = append(res.Settings.Scenarios, s.Name)
	}
	p := newProgress(o.Stderr)
	p.Printf("herald bench: %s; results in %s", strings.Join(res.Settings.Scenarios, ", "), out)
	e := &env{sz: sz, hold: o.Hold, procs: ps, work: work, out: out, p: p, data: Dataset{Seed: 1, Users: sz.Users, Products: sz.Products, OrdersPerUser: sz.OrdersPerUser}}
	save := func() error {
		res.Finished = time.Now().UTC()
		return errors.Join(res.WriteJSON(filepath.Join(out, "results.json")), res.WriteSVG(filepath.Join(out, "chart.svg")))
	}
	for _, s := range run {
		p.Printf("%s: %s", s.Name, s.Description)
		started := time.Now()
		e.res = &ScenarioResult{Name: s.Name, Description: s.Description, Comparisons: []*Comparison{}}
		e.scenario = s.Name
		// The previous scenario's writes and deletions reach the disk
		// before this one measures fsyncs.
		stop := p.track(s.Name+": syncing the disk", nil, "")
		syncDisk()
		stop()
		err := s.run(ctx, e)
		if cerr := ps.Close(); cerr != nil {
			e.note("stopping the scenario's processes: %v", cerr)
		}
		e.fetches.Wait() // profiles still being fetched add to e.res
		e.res.Seconds = time.Since(started).Seconds()
		if err != nil {
			e.res.Error = err.Error()
			p.Printf("%s failed: %v", s.Name, err)
		}
		res.Scenarios = append(res.Scenarios, *e.res)
		if !o.Keep {
			os.RemoveAll(filepath.Join(work, s.Name))
		}
		if err := save(); err != nil {
			return res, fmt.Errorf("bench: write results: %w", err)
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	p.Printf("")
	if err := res.WriteTable(o.Stdout); err != nil {
		return res, err
	}
	fmt.Fprintf(o.Stdout, "\nresults: %s\nchart:   %s\nprofiles: %s (go tool pprof -top <file>)\n",
		filepath.Join(out, "results.json"), filepath.Join(out, "chart.svg"), filepath.Join(out, "profiles"))
	return res, nil
}

// ScenarioNames are the scenarios' names, in order.
func ScenarioNames() []string {
	var names []string
	for _, s := range Scenarios() {
		names = append(names, s.Name)
	}
	return names
}
