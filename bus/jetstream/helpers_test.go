package jetstream

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// testServer is an embedded server on a random local port, storing in a
// temporary dir, shut down when the test ends.
type testServer struct {
	dir  string
	addr string // host:port, fixed across restarts
	srv  *Server
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	srv, err := StartServer(ServerConfig{Dir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	u, err := url.Parse(srv.ClientURL())
	if err != nil {
		srv.Shutdown()
		t.Fatalf("parse client url %q: %v", srv.ClientURL(), err)
	}
	ts := &testServer{dir: dir, addr: u.Host, srv: srv}
	t.Cleanup(func() {
		if ts.srv != nil {
			ts.srv.Shutdown()
		}
	})
	return ts
}

// restart shuts the server down and starts it again on the same address with
// the same storage.
func (ts *testServer) restart(t *testing.T) {
	t.Helper()
	ts.srv.Shutdown()
	ts.srv = nil
	srv, err := StartServer(ServerConfig{Dir: ts.dir, Listen: ts.addr})
	if err != nil {
		t.Fatalf("restart server on %s: %v", ts.addr, err)
	}
	ts.srv = srv
}

// dial returns a Bus on a TCP connection to ts, closed when the test ends.
func (ts *testServer) dial(t *testing.T) (*Bus, *nats.Conn) {
	t.Helper()
	b, nc, err := Dial("nats://"+ts.addr, t.Name(), Options{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(nc.Close)
	return b, nc
}

var streams atomic.Int64

// newStream creates a stream with a unique name over a unique subject prefix
// and returns both.
func newStream(t *testing.T, b *Bus) (name, prefix string) {
	t.Helper()
	n := streams.Add(1)
	name = fmt.Sprintf("T%d", n)
	prefix = fmt.Sprintf("t%d", n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureStream(ctx, name, prefix+".>"); err != nil {
		t.Fatalf("ensure stream: %v", err)
	}
	return name, prefix
}

func publishN(t *testing.T, b *Bus, subject string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := from; i < to; i++ {
		id := fmt.Sprintf("%s-%d", subject, i)
		if err := b.Publish(ctx, subject, id, []byte(id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
}

// eventually polls cond until it holds, or fails the test after timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		<-tick.C
	}
}

// headerGetter returns the first value of a header key, case-sensitively as
// NATS stores headers.
func headerGetter(h map[string][]string) func(string) string {
	return func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
}
