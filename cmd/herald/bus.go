package main

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
)

// busCmd runs the embedded NATS server on its own, alone or as one server
// of a cluster.
type busCmd struct {
	Data    string `default:"./herald-data" env:"HERALD_DATA" help:"Directory for the bus's streams (<data>/nats)."`
	Listen  string `default:"127.0.0.1:4223" env:"HERALD_NATS_LISTEN" help:"Client address of the bus."`
	NoFsync bool   `env:"HERALD_NO_FSYNC" help:"Do not fsync every write (see herald up --help)."`

	Name        string   `env:"HERALD_BUS_NAME" help:"Name of this server, unique in the cluster; required with --cluster. Default herald for a single server."`
	Cluster     string   `env:"HERALD_BUS_CLUSTER" help:"Route address (host:port) the cluster's other servers connect to; empty for a single server, not clustered."`
	ClusterName string   `default:"herald" env:"HERALD_BUS_CLUSTER_NAME" help:"Name of the cluster, the same on each of its servers."`
	Routes      []string `env:"HERALD_BUS_ROUTES" help:"Route URLs of the cluster's servers (comma-separated nats-route://host:port; nats:// works too). The same list on every server: its own route is ignored."`

	NATSAuth      string   `name:"nats-auth" env:"HERALD_NATS_AUTH" placeholder:"FILE" help:"nats-server authorization file to use as it is (herald nats-config's auth.conf; give every server of a cluster the same). Default: one generated from the catalogue in <data>/secrets/nats, with the services' credentials beside it."`
	NoNATSAuth    bool     `name:"no-nats-auth" env:"HERALD_NO_NATS_AUTH" help:"Let anyone who can reach the bus publish and consume anything (see herald up --help)."`
	QueryReplicas []string `env:"HERALD_QUERY_REPLICAS" help:"Names of query replicas (herald serve query --replica NAME) whose consumers the generated permissions allow (comma-separated)."`
	External      []string `env:"HERALD_EXTERNAL" placeholder:"SERVICE|TYPE" help:"Blog services or event types that run outside Herald, whose events the gateway may publish (see herald serve --help)."`
}

// Bus starts only the embedded NATS server, with the same durable settings
// as up (file storage in <data>/nats, fsync on every write unless
// --no-fsync), listening for clients on c.Listen and, with c.Cluster, for
// the routes of the cluster's other servers. It prints the client URL
// ("clients connect to nats://HOST:PORT") and, when clustered, the route
// URL and routes on a second line.
func (m *Main) Bus(c busCmd) error {
	if c.Listen == "" {
		return errors.New("herald bus needs --listen (HERALD_NATS_LISTEN)")
	}
	if c.Cluster == "" && len(c.Routes) > 0 {
		return errors.New("herald bus --routes needs --cluster (HERALD_BUS_CLUSTER), this server's own route address")
	}
	if c.Cluster != "" && c.Name == "" {
		return errors.New("herald bus --cluster needs --name (HERALD_BUS_NAME): every server of a cluster needs its own name")
	}
	if c.Cluster != "" && len(c.Routes) == 0 {
		return errors.New("herald bus --cluster needs --routes (HERALD_BUS_ROUTES): the route URLs of the cluster's servers, this one's included")
	}
	hint := "change --listen (HERALD_NATS_LISTEN)"
	if c.Cluster != "" {
		hint = "check --listen (HERALD_NATS_LISTEN), --cluster (HERALD_BUS_CLUSTER) and --routes (HERALD_BUS_ROUTES)"
	}
	auth := c.NATSAuth
	switch {
	case c.NoNATSAuth && auth != "":
		return errors.New("herald bus: --nats-auth and --no-nats-auth contradict each other")
	case c.NoNATSAuth:
		m.Log.Warn("the bus has no authentication (--no-nats-auth): anyone who can reach it may publish and consume anything")
	case auth == "":
		var err error
		if auth, err = writeNATSAuth(natsSecrets(c.Data), apps(serviceFlags{External: c.External}), c.QueryReplicas); err != nil {
			return err
		}
	}
	srv, err := m.startServer(jetstream.ServerConfig{
		Dir: filepath.Join(c.Data, "nats"), Listen: c.Listen, NoSync: c.NoFsync,
		Name: c.Name, Cluster: c.Cluster, ClusterName: c.ClusterName, Routes: c.Routes, Auth: auth,
	}, hint)
	if err != nil {
		return err
	}
	m.stopTimeout = 10 * time.Second
	fmt.Fprintf(m.Out, "herald bus is up: streams in %s, clients connect to %s\n", filepath.Join(c.Data, "nats"), srv.ClientURL())
	if auth != "" {
		fmt.Fprintf(m.Out, "  users and permissions from %s; anonymous connections are refused\n", auth)
	}
	if c.Cluster != "" {
		fmt.Fprintf(m.Out, "  server %s of cluster %s: routes listen on %s, joining %s\n",
			srv.Name(), cmp.Or(c.ClusterName, jetstream.DefaultClusterName), srv.ClusterURL(), strings.Join(c.Routes, ","))
	}
	return nil
}

// startServer starts the embedded server with cfg and keeps it for Close.
// A start error gets hint appended, if hint is not empty: the flags that
// may fix it.
func (m *Main) startServer(cfg jetstream.ServerConfig, hint string) (*jetstream.Server, error) {
	srv, err := jetstream.StartServer(cfg)
	if err != nil {
		if hint != "" {
			return nil, fmt.Errorf("%w; %s", err, hint)
		}
		return nil, err
	}
	if cfg.NoSync {
		m.Log.Warn("fsync is off: an OS crash or power loss can lose acknowledged events")
	}
	m.server = srv
	return srv, nil
}
