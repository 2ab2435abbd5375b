package jetstream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
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
}

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
		ServerName: "herald",
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: !cfg.NoSync,
		NoSigs:     true,
		NoLog:      true,
		DontListen: cfg.Listen == "",
		// Events are at most event.MaxSize; leave room for headers.
		MaxPayload: 2 << 20,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("start embedded nats: listen address %q: bad port", cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
		// Fail fast with the OS's own error if the port is taken; nats-server
		// would only log it.
		if p != server.RANDOM_PORT {
			l, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("start embedded nats: %w", err)
			}
			l.Close()
		}
	}
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

// ClientURL returns the URL other processes connect to, or "" when the server
// has no TCP listener.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

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
