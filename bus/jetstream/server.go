package jetstream

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures an embedded NATS server with JetStream.
type ServerConfig struct {
	// Dir is where JetStream stores streams. Required.
	Dir string
	// Listen is the client address, "host:port". Empty means no TCP listener:
	// only in-process connections (Server.Connect). Port 0 picks a free port.
	Listen string
	// NoSync relaxes fsync: instead of syncing every write, JetStream syncs
	// every 2 minutes, so an OS crash or power loss can lose acknowledged
	// events written since the last sync. A process crash loses nothing.
	NoSync bool

	// Name is the server's name. Default "herald"; required with Cluster,
	// where every server needs its own (JetStream tells peers apart by it).
	Name string
	// Cluster is the route address "host:port" the other servers of the
	// cluster connect to. Empty means a single server, not clustered. Port 0
	// picks a free port (see ClusterURL).
	Cluster string
	// ClusterName is the name of the cluster, the same on every server of
	// it. Default "herald". Used only with Cluster.
	ClusterName string
	// Routes are the route URLs of the cluster's servers,
	// "nats-route://host:port" (or "nats://host:port"). Required with
	// Cluster: JetStream clustering needs at least one configured route. A
	// server's own address among them is harmless: nats-server ignores a
	// route to itself, so every server can be given the same list.
	Routes []string
	// Auth is the path of a nats-server configuration with an
	// authorization block (see WriteAuth): only its users may connect, each
	// with its permissions. Empty means no authentication: anyone who can
	// reach the server may publish and consume anything.
	Auth string
}

// DefaultServerName and DefaultClusterName are the defaults of
// ServerConfig.Name and ServerConfig.ClusterName.
const (
	DefaultServerName  = "herald"
	DefaultClusterName = "herald"
)

// Server is an embedded NATS server with JetStream enabled.
type Server struct {
	ns   *server.Server
	lock *os.File
}

// StartServer starts an embedded server and waits until it accepts
// connections. Call Shutdown to stop it.
func StartServer(cfg ServerConfig) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("start embedded nats: no storage dir")
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	srv, err := startServer(cfg)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	srv.lock = lock
	return srv, nil
}

func startServer(cfg ServerConfig) (*Server, error) {
	opts := &server.Options{
		ServerName: cmp.Or(cfg.Name, DefaultServerName),
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: !cfg.NoSync,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.Listen == "",
		// Events are at most event.MaxSize; leave room for headers.
		MaxPayload: 2 << 20,
	}
	if cfg.Auth != "" {
		if err := loadAuth(opts, cfg.Auth); err != nil {
			return nil, err
		}
	}
	// Fail fast with the OS's own error if a port is taken: nats-server
	// would only log it. The probes (see listenAddr) stay open until all are
	// made, so the client and the cluster address cannot share a port.
	var probes []net.Listener
	closeProbes := func() {
		for _, l := range probes {
			l.Close()
		}
		probes = nil
	}
	defer closeProbes()
	if cfg.Listen != "" {
		host, port, l, err := listenAddr("listen address", cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
		if l != nil {
			probes = append(probes, l)
		}
	}
	l, err := clusterOptions(cfg, opts)
	if err != nil {
		return nil, err
	}
	if l != nil {
		probes = append(probes, l)
	}
	closeProbes()
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("start embedded nats: not ready after 30s")
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, errors.New("start embedded nats: jetstream did not start (is the storage dir writable?)")
	}
	return &Server{ns: ns}, nil
}

// clusterOptions sets the route listener, cluster name and routes of opts
// from cfg, or nothing if cfg is not clustered. It returns the probe of a
// fixed cluster port (see listenAddr), or nil.
func clusterOptions(cfg ServerConfig, opts *server.Options) (net.Listener, error) {
	if cfg.Cluster == "" {
		if len(cfg.Routes) > 0 {
			return nil, errors.New("start embedded nats: routes given without a cluster address")
		}
		return nil, nil
	}
	if cfg.Name == "" {
		return nil, errors.New("start embedded nats: a clustered server needs a name, unique in the cluster")
	}
	if len(cfg.Routes) == 0 {
		return nil, errors.New("start embedded nats: a clustered server needs routes to the cluster's servers (its own among them is fine)")
	}
	var routes []*url.URL
	for _, r := range cfg.Routes {
		u, err := routeURL(r)
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: %w", err)
		}
		routes = append(routes, u)
	}
	host, port, l, err := listenAddr("cluster address", cfg.Cluster)
	if err != nil {
		return nil, err
	}
	opts.Cluster = server.ClusterOpts{Name: cmp.Or(cfg.ClusterName, DefaultClusterName), Host: host, Port: port}
	opts.Routes = routes
	return l, nil
}

// routeURL parses a route URL, nats-route://host:port or nats://host:port,
// into the nats-route form nats-server expects.
func routeURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("route %q: %w", s, err)
	}
	if u.Scheme != "nats-route" && u.Scheme != "nats" {
		return nil, fmt.Errorf("route %q: want nats-route://host:port", s)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("route %q: want nats-route://host:port", s)
	}
	return &url.URL{Scheme: "nats-route", Host: u.Host}, nil
}

// listenAddr splits addr, the listen address called what, into a host and a
// port for server.Options, port 0 becoming server.RANDOM_PORT. A fixed port
// is probed: it returns a listener on it, for the caller to close before the
// server starts, or the OS's error if the port is taken.
func listenAddr(what, addr string) (string, int, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, nil, fmt.Errorf("start embedded nats: %s %q: %w", what, addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, nil, fmt.Errorf("start embedded nats: %s %q: bad port", what, addr)
	}
	if p == 0 {
		return host, server.RANDOM_PORT, nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", 0, nil, fmt.Errorf("start embedded nats: %s: %w", what, err)
	}
	return host, p, l, nil
}

// ClientURL returns the URL other processes connect to, or "" when the server
// has no TCP listener.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// ClusterURL returns the route URL, nats-route://host:port, that the other
// servers of the cluster connect to, or "" when the server is not clustered.
func (s *Server) ClusterURL() string {
	a := s.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return (&url.URL{Scheme: "nats-route", Host: a.String()}).String()
}

// Name returns the server's name.
func (s *Server) Name() string { return s.ns.Name() }

// Connect returns an in-process client connection.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded nats: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has; stored streams stay on
// disk for the next start.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	if s.lock != nil {
		s.lock.Close()
	}
}
