package jetstream_test

import (
	"net"
	"strings"
	"testing"

	"github.com/heraldev/herald/bus/jetstream"
)

func TestTwoServersCannotShareAStore(t *testing.T) {
	dir := t.TempDir()
	first, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if second, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir}); err == nil {
		second.Shutdown()
		first.Shutdown()
		t.Fatal("a second server started on a store in use")
	} else if !strings.Contains(err.Error(), "in use by another herald process") {
		t.Fatalf("error %q does not say the store is in use", err)
	}
	first.Shutdown()
	again, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatalf("the store stays locked after shutdown: %v", err)
	}
	again.Shutdown()
}

func TestClusteredServerNeedsANameAndRoutes(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  jetstream.ServerConfig
		want string
	}{
		{"no name", jetstream.ServerConfig{Cluster: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:1"}}, "needs a name"},
		{"no routes", jetstream.ServerConfig{Name: "n1", Cluster: "127.0.0.1:0"}, "needs routes"},
		{"routes without a cluster", jetstream.ServerConfig{Name: "n1", Routes: []string{"nats-route://127.0.0.1:1"}}, "without a cluster address"},
		{"route of another scheme", jetstream.ServerConfig{Name: "n1", Cluster: "127.0.0.1:0", Routes: []string{"http://127.0.0.1:1"}}, "want nats-route://host:port"},
		{"route without a port", jetstream.ServerConfig{Name: "n1", Cluster: "127.0.0.1:0", Routes: []string{"nats://127.0.0.1"}}, "want nats-route://host:port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Dir = t.TempDir()
			srv, err := jetstream.StartServer(c.cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestStartServerRefusesATakenClusterPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	route := "nats-route://" + l.Addr().String()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: t.TempDir(), Name: "n1", Cluster: l.Addr().String(), Routes: []string{route}})
	if err == nil {
		srv.Shutdown()
		t.Fatalf("a server started with its cluster port %s taken", l.Addr())
	}
	if !strings.Contains(err.Error(), "cluster address") {
		t.Fatalf("error %q does not name the cluster address", err)
	}
}

func TestStartServerRefusesOnePortForClientsAndRoutes(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: t.TempDir(), Listen: addr, Name: "n1", Cluster: addr, Routes: []string{"nats-route://" + addr}})
	if err == nil {
		srv.Shutdown()
		t.Fatalf("a server started with clients and routes both on %s", addr)
	}
	if !strings.Contains(err.Error(), "cluster address") {
		t.Fatalf("error %q does not name the cluster address", err)
	}
}
