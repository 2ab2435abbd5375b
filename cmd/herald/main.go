// Command herald runs Herald's services: all of them with an embedded NATS
// JetStream bus in one process (herald up), or the named ones against an
// external NATS server (herald serve).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/heraldev/herald/observe"
)

// cli is the command line. Every flag can also be set from its HERALD_*
// environment variable.
type cli struct {
	LogLevel  slog.Level `default:"info" env:"HERALD_LOG_LEVEL" help:"Log level: debug, info, warn or error."`
	LogFormat string     `default:"text" enum:"text,json" env:"HERALD_LOG_FORMAT" help:"Log format: text or json."`

	Up         upCmd         `cmd:"" help:"Run the shop and the blog (or the apps or services named) and an embedded NATS JetStream bus in one process."`
	Serve      serveCmd      `cmd:"" help:"Run the named apps or services only, against an external NATS server (2.10+ with JetStream)."`
	Bus        busCmd        `cmd:"" help:"Run only the embedded NATS JetStream bus, for services started with herald serve."`
	DLQ        dlqCmd        `cmd:"" name:"dlq" help:"List, show, redrive or discard dead-lettered events of a running system."`
	Trace      traceCmd      `cmd:"" help:"Show where one event went (by event id or trace id): its commit, its publish, and each consumer's outcome, with its trace."`
	Status     statusCmd     `cmd:"" help:"Show every running service's consumers (position, pending, DLQ, lag in seconds) and outbox relays as a table."`
	Rebuild    rebuildCmd    `cmd:"" help:"Rebuild a running read model from its stream, blue/green: into a new copy beside the live one, which serves every read meanwhile; then switch reads to it at once and remove the old one. Interrupted, it resumes where it stopped."`
	Catalogue  catalogueCmd  `cmd:"" help:"Print the apps, their services and every event type: version, owner, subject, who publishes and who consumes it; --json, or an app's AsyncAPI 3.0 document with --asyncapi."`
	Streams    streamsCmd    `cmd:"" help:"Create or update every app's stream (and the dead-letter stream) as the admin identity, then exit: for deployments whose services connect as their own identities, which may not."`
	Dashboard  dashboardCmd  `cmd:"" help:"Serve the dashboard for services run with herald serve: the topology, every event's journey, dead letters, a storefront."`
	Keys       keysCmd       `cmd:"" help:"Make the users service's token signing key, the public keys every service verifies tokens with, and an operator token, in one directory (or --rotate the signing key)."`
	NATSConfig natsConfigCmd `cmd:"" name:"nats-config" help:"Write one NATS credential per service and the nats-server authorization block (auth.conf) computed from the catalogue: each service may publish only its own events and use only its own consumers. For an operator's own NATS server or cluster."`
	Probe      probeCmd      `cmd:"" help:"Check that a service is ready or a NATS server's JetStream answers; exit 0 if so (for container health checks)."`

	Bench       benchCmd       `cmd:"" help:"Benchmark Herald on this machine against anchors (plain net/http, raw JetStream, a synchronous query service); writes results.json, chart.svg and CPU profiles."`
	BenchAnchor benchAnchorCmd `cmd:"" name:"bench-anchor" hidden:"" help:"Run one of herald bench's anchors (started by herald bench)."`
}

// serviceFlags are the settings shared by up and serve.
type serviceFlags struct {
	Data           string            `default:"./herald-data" env:"HERALD_DATA" help:"Directory for the services' databases (and the embedded bus's streams)."`
	DB             string            `name:"db" env:"HERALD_DB" help:"Database of the one write service being run (users, products, orders, posts, comments or moderation): a postgres:// URL, or a SQLite file path. Default: a SQLite file in --data."`
	Replica        string            `env:"HERALD_REPLICA" help:"Name of this query replica (query, blog-query): its own read model in --data and its own durable consumer, built from the stream's history when new."`
	Addr           map[string]string `name:"addr" mapsep:";" placeholder:"SERVICE=HOST:PORT" env:"HERALD_ADDR" help:"Listen address of a service (repeat the flag, or separate with ';'). --<service>-addr HOST:PORT and HERALD_<SERVICE>_ADDR set it too. Defaults: ${addrs}."`
	BannedWords    []string          `default:"orange" env:"HERALD_BANNED_WORDS" help:"Words that make moderation reject a comment (comma-separated; case-insensitive)."`
	Push           []string          `env:"HERALD_PUSH" help:"URLs the gateway POSTs every blog event to, tutorial style (comma-separated), e.g. http://localhost:4006/events."`
	PushSecret     string            `env:"HERALD_PUSH_SECRET" help:"Standard Webhooks secret (whsec_<base64>) that signs pushes to --push URLs; empty for unsigned."`
	PushAllow      []string          `default:"loopback" env:"HERALD_PUSH_ALLOW" help:"Where the gateway may push: loopback, private, any, CIDRs, IPs or host names (comma-separated). Link-local and cloud metadata addresses are always refused."`
	PushTimeout    time.Duration     `default:"10s" env:"HERALD_PUSH_TIMEOUT" help:"How long a push subscriber may take to answer one delivery."`
	PushMaxDeliver int               `default:"15" env:"HERALD_PUSH_MAX_DELIVER" help:"Attempts at pushing an event before it is dead-lettered (with the default backoff, about 40 minutes of trying)."`
	PushBackoff    []time.Duration   `default:"1s,2s,5s,10s,30s,1m,2m,5m" env:"HERALD_PUSH_BACKOFF" help:"Waits between push attempts (comma-separated; the last repeats)."`
	MaxDeliver     int               `default:"5" env:"HERALD_MAX_DELIVER" help:"Attempts at handling an event before it goes to the dead-letter stream."`
	AckWait        time.Duration     `default:"30s" env:"HERALD_ACK_WAIT" help:"How long a handler may take before its event is delivered again."`
	StopTimeout    time.Duration     `default:"30s" env:"HERALD_STOP_TIMEOUT" help:"How long a clean stop may take (draining requests and consumers)."`
	Pprof          bool              `env:"HERALD_PPROF" help:"Serve Go's profiles at /debug/pprof/ on every service's address (for benchmarks and diagnosis; exposes the process's internals, so off by default)."`
	MaxStreamBytes int64             `default:"0" env:"HERALD_MAX_STREAM_BYTES" help:"Storage limit of the event stream in bytes; 0 for none. A full stream refuses new events and writes answer 503; it never discards events."`
	Tracing        bool              `default:"true" negatable:"" env:"HERALD_TRACING" help:"Trace every write, publish and delivery with OpenTelemetry (--no-tracing turns it off)."`
	TraceRing      int               `default:"10000" env:"HERALD_TRACE_RING" help:"Recent spans kept in memory for herald trace (each at most a few KB, so memory stays bounded under any load); 0 keeps none."`
	OTLPEndpoint   string            `name:"otlp-endpoint" env:"HERALD_OTLP_ENDPOINT" placeholder:"URL" help:"Export spans over OTLP/HTTP to this URL (Jaeger, Tempo or a collector, e.g. http://127.0.0.1:4318). The standard OTEL_EXPORTER_OTLP_ENDPOINT variables work too."`
	MaxWait        time.Duration     `default:"10s" env:"HERALD_MAX_WAIT" help:"Longest a read with a Herald-After consistency token waits for its read model before answering stale."`
	authFlags
	WriteRate    float64           `default:"100" env:"HERALD_WRITE_RATE" help:"Writes (POST, PUT, DELETE) a second one client may make to a service, after a burst of twice as many; a signed-in user counts by user id, anyone else by address; the operator token is exempt. 0 for no limit (load tests). Over it: 429 with Retry-After."`
	SignInRate   float64           `default:"1" env:"HERALD_SIGN_IN_RATE" help:"Sign-ins (POST /sessions) a second one address may try, after a burst of 20 (each email is limited to 5 a minute as well). 0 for no limit."`
	MaxBody      int64             `default:"1048576" env:"HERALD_MAX_BODY" help:"Largest request body a service takes, in bytes (larger: 413)."`
	External     []string          `env:"HERALD_EXTERNAL" placeholder:"SERVICE|TYPE" help:"Blog services (posts, comments, moderation) or event types that run outside Herald, whose events the gateway takes from outside clients (comma-separated). herald up adds every blog service it does not run (herald up gateway: all of them, for the tutorial's Node services). Any other type a Herald service owns the gateway refuses with 403."`
	GatewayToken map[string]string `name:"gateway-token" mapsep:";" placeholder:"TOKEN=TYPES" env:"HERALD_GATEWAY_TOKEN" help:"Bearer tokens the gateway's POST and GET /events require, each with the event types it may post (TOKEN=PostCreated,CommentCreated or TOKEN=*; repeat the flag, or separate with ';'). Default: none, /events open on loopback as the tutorial's bus is."`
	NoFsync      bool              `env:"HERALD_NO_FSYNC" help:"Do not fsync: neither the embedded bus's writes (herald up) nor the services' SQLite commits (WAL without a sync per commit). Faster, but an OS crash or power loss can lose acknowledged writes and events of the last moments (the bus's: up to 2 minutes); a process crash loses nothing. PostgreSQL keeps its own setting."`
	NoBatches    bool              `env:"HERALD_NO_BATCHES" help:"Publish each outbox event on its own, never a backlog as one atomic batch. Batches (nats-server 2.12 and later) let a server that fsyncs every write (the embedded bus; sync_always) fsync once per batch; on one that does not (herald up --no-fsync implies this flag) they cost more than they save."`
}

type upCmd struct {
	serviceFlags
	Targets       []string `arg:"" optional:"" enum:"${targets}" help:"Apps (shop, blog) or services to run; default: shop and blog."`
	NatsListen    string   `default:"127.0.0.1:4223" env:"HERALD_NATS_LISTEN" help:"Client address of the embedded NATS server, for other processes (herald serve, the nats CLI); empty for in-process only. Not 4222, which a system NATS may hold."`
	DashboardAddr string   `default:"127.0.0.1:8080" env:"HERALD_DASHBOARD_ADDR" help:"Address of the dashboard (the topology, every event's journey, dead letters, a storefront); empty for none."`
	NoNATSAuth    bool     `name:"no-nats-auth" env:"HERALD_NO_NATS_AUTH" help:"Let anyone who can reach the embedded bus publish and consume anything. By default each service connects as its own NATS identity, allowed only its own events and consumers (credentials in <data>/secrets/nats), and anonymous connections are refused."`
	// QueryReplicas are read model replicas that will join from other
	// processes (herald serve query --replica NAME).
	QueryReplicas []string `env:"HERALD_QUERY_REPLICAS" help:"Names of query replicas that other processes run against this bus (herald serve query --replica NAME), whose consumers the bus's permissions allow (comma-separated)."`
}

type serveCmd struct {
	serviceFlags
	Services []string `arg:"" enum:"${targets}" help:"Apps or services to run: shop (users, products, orders, query), blog (posts, comments, moderation, blog-query, gateway)."`
	NATS     string   `name:"nats" default:"nats://127.0.0.1:4222" env:"HERALD_NATS" help:"URL of the NATS server or cluster (comma-separated URLs)."`
	natsFlags
	Replicas int `default:"0" env:"HERALD_REPLICAS" help:"Copies of each stream (the DLQ too): 0 for automatic, which is 3 in a NATS cluster that can place them and 1 otherwise, and never lowers an existing stream; 1 to 5 sets exactly that, even lowering."`
}

func main() {
	var c cli
	parser := kong.Must(&c, kongOptions()...)
	k, err := parser.Parse(addrAliases(os.Args[1:], apps(serviceFlags{}).Names()))
	parser.FatalIfErrorf(err)
	log := newLogger(os.Stderr, c.LogLevel, c.LogFormat)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := &Main{Log: log, Out: os.Stdout}
	if strings.HasPrefix(k.Command(), "dlq ") {
		if err := m.DLQ(ctx, c.DLQ, k.Command()); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if strings.HasPrefix(k.Command(), "bench") {
		if err := m.Bench(ctx, c.Bench, c.BenchAnchor, k.Command()); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if strings.HasPrefix(k.Command(), "catalogue") {
		if err := m.Catalogue(c.Catalogue); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if k.Command() == "rebuild <read-model>" {
		if err := m.Rebuild(ctx, c.Rebuild); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if k.Command() == "trace <id>" || k.Command() == "status" {
		run := func() error { return m.Status(ctx, c.Status) }
		if k.Command() == "trace <id>" {
			run = func() error { return m.Trace(ctx, c.Trace) }
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if k.Command() == "nats-config" || k.Command() == "keys" || k.Command() == "streams" {
		run := func() error { return m.NATSConfig(c.NATSConfig) }
		switch k.Command() {
		case "keys":
			run = func() error { return m.Keys(c.Keys) }
		case "streams":
			run = func() error { return m.Streams(ctx, c.Streams) }
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	if k.Command() == "probe <url>" {
		if err := m.Probe(ctx, c.Probe); err != nil {
			fmt.Fprintln(os.Stderr, "herald:", err)
			os.Exit(1)
		}
		return
	}
	switch k.Command() {
	case "up", "up <targets>":
		err = m.Up(ctx, c.Up)
	case "serve <services>":
		err = m.Serve(ctx, c.Serve)
	case "bus":
		err = m.Bus(c.Bus)
	case "dashboard":
		if err = m.Dashboard(ctx, c.Dashboard); err == nil {
			fmt.Fprintf(m.Out, "dashboard at %s for the bus at %s\n", m.dashboardURL, c.Dashboard.NATS)
		}
	default:
		err = fmt.Errorf("unknown command %q", k.Command())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
	fmt.Fprintln(m.Out, "Press Ctrl-C to stop.")
	<-ctx.Done()
	stop() // a second Ctrl-C kills at once
	log.Info("stopping")
	sctx, cancel := context.WithTimeout(context.Background(), m.stopTimeout)
	defer cancel()
	if err := m.Close(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "herald: stop:", err)
		os.Exit(1)
	}
}

// kongOptions configure the command line parser; tests use them too.
func kongOptions() []kong.Option {
	all := apps(serviceFlags{})
	var addrs []string
	for _, a := range all {
		for _, s := range a.Services {
			addrs = append(addrs, s.Name+"="+s.Addr)
		}
	}
	return []kong.Option{
		kong.Name("herald"),
		kong.Description("Event-driven microservices with a query service, on a durable NATS JetStream bus."),
		kong.UsageOnError(),
		kong.Vars{"targets": strings.Join(all.TargetNames(), ","), "addrs": strings.Join(addrs, ", "), "apps": strings.Join(appNames(all), ",")},
	}
}

func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(observe.LogHandler(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(observe.LogHandler(slog.NewTextHandler(w, opts)))
}
