package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/heraldev/herald/bench"
)

// benchCmd runs the benchmarks (package bench).
type benchCmd struct {
	Scenarios    []string      `arg:"" optional:"" help:"Scenarios to run, in order: read, dashboard, sync-vs-async, write-to-view, lag, rebuild, scale, ingress, journey. Default: all."`
	Out          string        `env:"HERALD_BENCH_OUT" help:"Results folder (results.json, chart.svg, profiles, logs). Default: ./bench-results/<UTC timestamp>."`
	Rounds       int           `env:"HERALD_BENCH_ROUNDS" help:"Rounds per side of each comparison, alternating Herald and its anchor. Default 3 (1 with --quick)."`
	Duration     time.Duration `env:"HERALD_BENCH_DURATION" help:"Length of one round. Default 5s (1s with --quick)."`
	RebuildLimit time.Duration `env:"HERALD_BENCH_REBUILD_LIMIT" help:"Longest one rebuild round runs; a rebuild still going then is measured on the events applied so far. Default 2m (2s with --quick); -1s lets every rebuild run until its lag is 0."`
	Quick        bool          `env:"HERALD_BENCH_QUICK" help:"Small data sets (1,000 users, 20,000 rebuild events) and 1s rounds: a smoke run, not a measurement."`
	Keep         bool          `env:"HERALD_BENCH_KEEP" help:"Keep the scenarios' databases and streams in <out>/data instead of deleting them."`
	Hold         time.Duration `env:"HERALD_BENCH_HOLD" help:"Keep the read scenario's servers (Herald's query, the fixed-body handler, the trivial server) running this long after its rounds, printing their URLs and the operator token's file, to cross-check with wrk."`
}

// benchAnchorCmd runs one of the bench's anchors: the HTTP servers Herald
// is measured against. herald bench starts them; they are hidden from the
// help.
type benchAnchorCmd struct {
	Fixed struct {
		Size int    `default:"512" env:"HERALD_BENCH_ANCHOR_SIZE" help:"Size of the body in bytes."`
		Addr string `default:"127.0.0.1:0" env:"HERALD_BENCH_ANCHOR_ADDR" help:"Listen address."`
	} `cmd:"" help:"Answer every request with a fixed JSON body: the ceiling of an HTTP read."`
	Trivial struct {
		Size int    `default:"512" env:"HERALD_BENCH_ANCHOR_SIZE" help:"Size of the body in bytes."`
		Addr string `default:"127.0.0.1:0" env:"HERALD_BENCH_ANCHOR_ADDR" help:"Listen address."`
	} `cmd:"" help:"Answer every request read on a connection with a canned HTTP/1.1 200 and a fixed body, without net/http: the load generator's ceiling."`
	SyncQuery struct {
		Users    string `required:"" env:"HERALD_BENCH_ANCHOR_USERS" help:"Base URL of the users service."`
		Orders   string `required:"" env:"HERALD_BENCH_ANCHOR_ORDERS" help:"Base URL of the orders service."`
		Products string `required:"" env:"HERALD_BENCH_ANCHOR_PRODUCTS" help:"Base URL of the products service."`
		Addr     string `default:"127.0.0.1:0" env:"HERALD_BENCH_ANCHOR_ADDR" help:"Listen address."`
	} `cmd:"" name:"sync-query" help:"Answer GET /users/{id}/products by calling users, orders and products per request."`
}

// Bench runs the command called command: herald bench, or one of the
// anchors, until ctx ends.
func (m *Main) Bench(ctx context.Context, b benchCmd, a benchAnchorCmd, command string) error {
	switch command {
	case "bench-anchor fixed":
		return bench.ServeAnchor(ctx, "fixed", a.Fixed.Addr, bench.FixedHandler(a.Fixed.Size), m.Out, m.Log)
	case "bench-anchor trivial":
		return bench.ServeTrivial(ctx, "trivial", a.Trivial.Addr, a.Trivial.Size, m.Out)
	case "bench-anchor sync-query":
		s := bench.NewSyncQuery(strings.TrimRight(a.SyncQuery.Users, "/"), strings.TrimRight(a.SyncQuery.Orders, "/"), strings.TrimRight(a.SyncQuery.Products, "/"))
		return bench.ServeAnchor(ctx, "sync-query", a.SyncQuery.Addr, s, m.Out, m.Log)
	case "bench", "bench <scenarios>":
		return m.runBench(ctx, b, nil, os.Stderr)
	}
	return fmt.Errorf("unknown command %q", command)
}

// runBench runs herald bench with this binary as every child process, env
// added to their environment, showing its progress on stderr.
func (m *Main) runBench(ctx context.Context, b benchCmd, env []string, stderr io.Writer) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find the herald binary: %w", err)
	}
	// The first Ctrl-C stops the bench, which stops its children and saves
	// what it measured; a second one kills it at once (the kernel then
	// sends each child SIGTERM).
	defer context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })()
	out := b.Out
	if out == "" {
		out = filepath.Join("bench-results", time.Now().UTC().Format("20060102T150405Z"))
	}
	_, err = bench.Run(ctx, bench.Options{
		Bin: bin, Env: env, Out: out, Scenarios: b.Scenarios,
		Rounds: b.Rounds, Duration: b.Duration, RebuildLimit: b.RebuildLimit, Quick: b.Quick, Keep: b.Keep, Hold: b.Hold,
		Stdout: m.Out, Stderr: stderr,
	})
	return err
}
