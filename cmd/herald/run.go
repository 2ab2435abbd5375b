package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/auth"
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
	Err io.Writer // where long commands draw their progress; default os.Stderr

	server      *jetstream.Server
	nc          *nats.Conn   // the admin's connection (or the only one)
	conns       []*nats.Conn // each service's own connection, when each connects as itself
	natsAuth    string       // the embedded bus's credentials dir, "" for none
	bus         *jetstream.Bus
	running     *catalogue.Running
	tracing     *observe.Tracing
	stopTimeout time.Duration

	adminToken   string // the operator token's file, "" if this process writes none
	verifier     *auth.Verifier
	dashboard    *http.Server // nil when not served
	dashboardURL string
	quitTokens   chan struct{} // stops the operator token's renewal
	tokensDone   chan struct{}
}

// Up starts the embedded NATS server with its storage in <data>/nats and
// the apps or services c names (the shop and the blog if none). It returns
// once all are ready; on error it stops what it started.
func (m *Main) Up(ctx context.Context, c upCmd) error {
	targets, err := plan(c.Targets, c.serviceFlags)
	if err != nil {
		return err
	}
	// The blog services left out run outside Herald: plan again with them
	// declared, so the gateway and the bus's permissions both know.
	c.serviceFlags = withUnrun(c.serviceFlags, targets)
	if targets, err = plan(c.Targets, c.serviceFlags); err != nil {
		return err
	}
	hint := ""
	if c.NatsListen != "" {
		hint = "change --nats-listen (HERALD_NATS_LISTEN)"
	}
	auth := ""
	if !c.NoNATSAuth {
		m.natsAuth = natsSecrets(c.Data)
		if auth, err = writeNATSAuth(m.natsAuth, apps(c.serviceFlags), append(c.QueryReplicas, c.Replica)); err != nil {
			return err
		}
	}
	srv, err := m.startServer(jetstream.ServerConfig{Dir: filepath.Join(c.Data, "nats"), Listen: c.NatsListen, NoSync: c.NoFsync, Auth: auth}, hint)
	if err != nil {
		return err
	}
	connect := func(name string) (*nats.Conn, error) {
		opts := jetstream.ClientOptions("herald up "+name, m.Log)
		if auth != "" {
			cr, _ := jetstream.InDir(m.natsAuth, name)
			more, err := cr.Options()
			if err != nil {
				return nil, err
			}
			opts = append(opts, more...)
		}
		return srv.Connect(opts...)
	}
	nc, err := connect(jetstream.AdminIdentity)
	if err != nil {
		m.Close(ctx)
		return err
	}
	m.nc = nc
	// Atomic batches pay for themselves by saving fsyncs (--no-batches).
	c.NoBatches = c.NoBatches || c.NoFsync
	perService := connect
	if auth == "" {
		perService = nil
	}
	if err := m.start(ctx, nc, c.serviceFlags, targets, 1, false, perService); err != nil {
		m.Close(ctx)
		return err
	}
	if c.DashboardAddr != "" {
		if err := m.upDashboard(c.DashboardAddr, c.serviceFlags, m.bus, m.verifier); err != nil {
			m.Close(ctx)
			return err
		}
	}
	bus := "in-process only"
	if u := srv.ClientURL(); u != "" {
		bus = u
	}
	if m.dashboardURL != "" {
		fmt.Fprintf(m.Out, "herald is up: dashboard at %s\n  data in %s, bus at %s\n", m.dashboardURL, c.Data, bus)
	} else {
		fmt.Fprintf(m.Out, "herald is up: data in %s, bus at %s\n", c.Data, bus)
	}
	if auth != "" {
		fmt.Fprintf(m.Out, "  bus credentials in %s (one per service; anonymous connections are refused)\n", m.natsAuth)
	} else {
		m.Log.Warn("the bus has no authentication (--no-nats-auth): anyone who can reach it may publish and consume anything")
	}
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
	connect := func(name string) (*nats.Conn, error) {
		more, _, err := c.natsFlags.options(c.Data, name)
		if err != nil {
			return nil, err
		}
		nc, err := nats.Connect(c.NATS, append(jetstream.ClientOptions("herald serve "+name, m.Log), more...)...)
		if err != nil {
			return nil, fmt.Errorf("connect to nats at %s as %s: %w%s", c.NATS, name, err, connectHint(err))
		}
		return nc, nil
	}
	// Each service connects as itself when there is a credentials dir;
	// the admin identity, if the dir holds it, creates the streams, and
	// without it the services only check that the streams exist.
	var perService func(string) (*nats.Conn, error)
	adminName, verify := jetstream.AdminIdentity, false
	if !c.single() && c.dir(c.Data) != "" {
		perService = connect
		if _, ok, err := c.credentials(c.Data, jetstream.AdminIdentity); err != nil {
			return err
		} else if !ok {
			adminName, verify = targets[0].Service.Name, true
		}
	}
	nc, err := connect(adminName)
	if err != nil {
		return err
	}
	m.nc = nc
	if err := m.start(ctx, nc, c.serviceFlags, targets, c.Replicas, verify, perService); err != nil {
		m.Close(ctx)
		return err
	}
	fmt.Fprintf(m.Out, "herald is serving: data in %s, bus at %s\n", c.Data, c.NATS)
	m.printURLs()
	return nil
}

// start runs targets on the bus: nc (the admin's connection, or with
// verify a service's, which only checks that the streams exist) creates
// the streams, and, with connect, each service runs on a connection of its
// own identity; without, every service shares nc.
func (m *Main) start(ctx context.Context, nc *nats.Conn, f serviceFlags, targets []catalogue.Target, replicas int, verify bool, connect func(name string) (*nats.Conn, error)) error {
	m.stopTimeout = f.StopTimeout
	if m.stopTimeout <= 0 {
		m.stopTimeout = 30 * time.Second
	}
	opts := jetstream.Options{Replicas: replicas, MaxBytes: f.MaxStreamBytes, NoBatches: f.NoBatches, Logger: m.Log, VerifyStreams: verify}
	b, err := jetstream.New(nc, opts)
	if err != nil {
		return err
	}
	var busFor func(catalogue.Target) (*jetstream.Bus, error)
	if connect != nil {
		busFor = func(t catalogue.Target) (*jetstream.Bus, error) {
			sc, err := connect(t.Service.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Service.Name, err)
			}
			m.conns = append(m.conns, sc)
			o := opts
			o.VerifyStreams = true
			return jetstream.New(sc, o)
		}
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
	verifier, issuer, err := m.setupAuth(f, targets)
	if err != nil {
		return err
	}
	m.verifier, m.bus = verifier, b
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.Check(sctx); err != nil {
		return err
	}
	m.running, err = catalogue.StartAs(sctx, b, targets, func(t catalogue.Target) service.Config {
		cfg := f.config(t, m.Log, m.tracing)
		cfg.Auth, cfg.Issuer = verifier, issuer
		return cfg
	}, busFor)
	return err
}

func (m *Main) printURLs() {
	if m.adminToken != "" {
		fmt.Fprintf(m.Out, "  operator token in %s (for /metrics, /status, pprof, subscriptions, creating products: Authorization: Bearer $(cat %s))\n", m.adminToken, m.adminToken)
	}
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
	if m.dashboard != nil {
		// Live pages hold their answers open: close them rather than wait.
		_ = m.dashboard.Close()
	}
	if m.quitTokens != nil {
		close(m.quitTokens)
		<-m.tokensDone
		m.quitTokens = nil
	}
	errs := []error{m.running.Stop(ctx)}
	if err := m.tracing.Shutdown(ctx); err != nil { // exports the spans still buffered
		errs = append(errs, err)
	}
	// Consumers are drained already; push out their last acks.
	for _, nc := range append(m.conns, m.nc) {
		if nc != nil {
			_ = nc.FlushTimeout(2 * time.Second)
			nc.Close()
		}
	}
	if m.server != nil {
		m.server.Shutdown()
	}
	m.Log.Info("stopped cleanly")
	return errors.Join(errs...)
}
