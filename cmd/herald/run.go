package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/service"
)

// Main runs a set of services and, for up, the embedded bus. Tests drive it
// exactly as the command does: Up or Serve, then Close.
type Main struct {
	Log *slog.Logger
	Out io.Writer // where service URLs are printed

	server      *jetstream.Server
	nc          *nats.Conn
	bus         *jetstream.Bus
	running     *catalogue.Running
	tracing     *observe.Tracing
	stopTimeout time.Duration
}

// Up starts the embedded NATS server with its storage in <data>/nats and
// the apps or services c names (the shop and the blog if none). It returns
// once all are ready; on error it stops what it started.
func (m *Main) Up(ctx context.Context, c upCmd) error {
	targets, err := plan(c.Targets, c.serviceFlags)
	if err != nil {
		return err
	}
	hint := ""
	if c.NatsListen != "" {
		hint = "change --nats-listen (HERALD_NATS_LISTEN)"
	}
	srv, err := m.startServer(jetstream.ServerConfig{Dir: filepath.Join(c.Data, "nats"), Listen: c.NatsListen, NoSync: c.NoFsync}, hint)
	if err != nil {
		return err
	}
	nc, err := srv.Connect(jetstream.ClientOptions("herald up", m.Log)...)
	if err != nil {
		m.Close(ctx)
		return err
	}
	m.nc = nc
	// Atomic batches pay for themselves by saving fsyncs (--no-batches).
	c.NoBatches = c.NoBatches || c.NoFsync
	if err := m.start(ctx, nc, c.serviceFlags, targets, 1); err != nil {
		m.Close(ctx)
		return err
	}
	bus := "in-process only"
	if u := srv.ClientURL(); u != "" {
		bus = u
	}
	fmt.Fprintf(m.Out, "herald is up: data in %s, bus at %s\n", c.Data, bus)
	m.printURLs()
	return nil
}

// Serve starts the named apps or services against the NATS server at c.NATS.
func (m *Main) Serve(ctx context.Context, c serveCmd) error {
	if len(c.Services) == 0 {
		return errors.New("name at least one app or service to serve")
	}
	targets, err := plan(c.Services, c.serviceFlags)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(c.NATS, jetstream.ClientOptions("herald serve", m.Log)...)
	if err != nil {
		return fmt.Errorf("connect to nats at %s: %w; is it running? set --nats (HERALD_NATS)", c.NATS, err)
	}
	m.nc = nc
	if err := m.start(ctx, nc, c.serviceFlags, targets, c.Replicas); err != nil {
		m.Close(ctx)
		return err
	}
	fmt.Fprintf(m.Out, "herald is serving: data in %s, bus at %s\n", c.Data, c.NATS)
	m.printURLs()
	return nil
}

func (m *Main) start(ctx context.Context, nc *nats.Conn, f serviceFlags, targets []catalogue.Target, replicas int) error {
	m.stopTimeout = f.StopTimeout
	if m.stopTimeout <= 0 {
		m.stopTimeout = 30 * time.Second
	}
	b, err := jetstream.New(nc, jetstream.Options{Replicas: replicas, MaxBytes: f.MaxStreamBytes, NoBatches: f.NoBatches, Logger: m.Log})
	if err != nil {
		return err
	}
	m.bus = b
	if f.Tracing {
		ring := f.TraceRing
		if ring <= 0 {
			ring = -1 // observe.Options: none
		}
		if m.tracing, err = observe.New(ctx, observe.Options{RingSize: ring, OTLPEndpoint: f.OTLPEndpoint}); err != nil {
			return fmt.Errorf("%w; fix --otlp-endpoint (HERALD_OTLP_ENDPOINT)", err)
		}
		if e := m.tracing.Exporting(); e != "" {
			observe.LogErrors(m.Log)
			m.Log.Info("exporting traces", "otlp", e)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Check(sctx); err != nil {
		return err
	}
	m.running, err = catalogue.Start(sctx, b, targets, func(t catalogue.Target) service.Config { return f.config(t, m.Log, m.tracing) })
	return err
}

func (m *Main) printURLs() {
	for i, s := range m.running.Services {
		fmt.Fprintf(m.Out, "  %-4s  %-10s  %s\n", m.running.Targets[i].App.Name, s.Name, s.URL())
	}
}

// Service returns the running service called name, or nil.
func (m *Main) Service(name string) *service.Service { return m.running.Service(name) }

// Close stops the services in reverse start order (each drains its requests
// and consumers and closes its database), then the bus connection and the
// embedded server. It is safe to call on a partly started Main.
func (m *Main) Close(ctx context.Context) error {
	errs := []error{m.running.Stop(ctx)}
	if err := m.tracing.Shutdown(ctx); err != nil { // exports the spans still buffered
		errs = append(errs, err)
	}
	if m.nc != nil {
		// Consumers are drained already; push out their last acks.
		_ = m.nc.FlushTimeout(2 * time.Second)
		m.nc.Close()
	}
	if m.server != nil {
		m.server.Shutdown()
	}
	m.Log.Info("stopped cleanly")
	return errors.Join(errs...)
}
