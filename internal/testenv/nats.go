package testenv

import (
	"context"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/bus/jetstream"
)

// Stream is a JetStream stream a test needs: its name and subjects.
type Stream struct {
	Name     string
	Subjects []string
}

// NATS is a running embedded JetStream server, one connection to it and a
// bus on that connection.
type NATS struct {
	Server *jetstream.Server
	Conn   *nats.Conn
	Bus    *jetstream.Bus

	once sync.Once
}

// NewNATS is StartNATS with Close registered to run when the test ends.
func NewNATS(t testing.TB, dir string, streams ...Stream) *NATS {
	t.Helper()
	n := StartNATS(t, dir, streams...)
	t.Cleanup(n.Close)
	return n
}

// StartNATS starts an embedded JetStream server storing in dir (a server
// started again on the same dir finds its streams and consumers), connects
// to it and ensures each of streams. On any error it releases what it
// started and fails the test. The caller must Close it, before the test's
// temp dirs are removed; NewNATS does that.
func StartNATS(t testing.TB, dir string, streams ...Stream) *NATS {
	t.Helper()
	srv, err := jetstream.StartServer(jetstream.ServerConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{Server: srv}
	if n.Conn, err = srv.Connect(); err != nil {
		n.Close()
		t.Fatal(err)
	}
	if n.Bus, err = jetstream.New(n.Conn, jetstream.Options{}); err != nil {
		n.Close()
		t.Fatal(err)
	}
	for _, s := range streams {
		if err := n.Bus.EnsureStream(context.Background(), s.Name, s.Subjects...); err != nil {
			n.Close()
			t.Fatalf("stream %s: %v", s.Name, err)
		}
	}
	return n
}

// Close closes the connection and shuts the server down, waiting until it
// has stopped. Calls after the first do nothing.
func (n *NATS) Close() {
	n.once.Do(func() {
		if n.Conn != nil {
			n.Conn.Close()
		}
		n.Server.Shutdown()
	})
}
