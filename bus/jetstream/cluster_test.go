package jetstream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus"
)

// testCluster is embedded servers clustered with each other on free local
// ports, each storing in its own temporary dir, shut down when the test ends.
type testCluster struct {
	servers []*Server // nil once shut down
	urls    []string  // client URLs, in server order
}

// startTestCluster starts n clustered servers and waits until JetStream has
// a meta leader that sees all n servers as peers, so a stream can be placed
// on any of them.
func startTestCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	dir := t.TempDir() // before the shutdown cleanup, so removed after it
	tc := &testCluster{}
	t.Cleanup(tc.shutdownAll)
	for attempt := 1; ; attempt++ {
		err := tc.start(t, filepath.Join(dir, strconv.Itoa(attempt)), n)
		if err == nil {
			break
		}
		// A port picked in advance can be taken by someone else before the
		// server binds it; pick new ones.
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			t.Fatal(err)
		}
		t.Logf("retrying with other ports: %v", err)
		tc.shutdownAll()
	}
	tc.waitPeers(t, n)
	return tc
}

// start starts n servers clustered with each other, storing in dir.
// JetStream clustering needs configured routes, and every server gets the
// same list, its own route included; so the ports are picked before any
// server starts, the client ports too, so that no server's random port
// takes a route port.
func (tc *testCluster) start(t *testing.T, dir string, n int) error {
	ports := freePorts(t, 2*n)
	routes := make([]string, n)
	for i := range n {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i])
	}
	tc.servers, tc.urls = make([]*Server, n), nil
	for i := range n {
		srv, err := StartServer(ServerConfig{
			Dir: filepath.Join(dir, strconv.Itoa(i+1)), Listen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Name: fmt.Sprintf("n%d", i+1), Cluster: fmt.Sprintf("127.0.0.1:%d", ports[n+i]), Routes: routes,
		})
		if err != nil {
			return fmt.Errorf("start server %d: %w", i+1, err)
		}
		tc.servers[i] = srv
		tc.urls = append(tc.urls, srv.ClientURL())
		if got, want := srv.ClusterURL(), routes[i]; got != want {
			return fmt.Errorf("ClusterURL = %q, want %q", got, want)
		}
	}
	return nil
}

func (tc *testCluster) shutdownAll() {
	for i, s := range tc.servers {
		if s != nil {
			s.Shutdown()
			tc.servers[i] = nil
		}
	}
}

// waitPeers waits until the meta leader sees n servers up with JetStream.
func (tc *testCluster) waitPeers(t *testing.T, n int) {
	t.Helper()
	eventually(t, 30*time.Second, func() bool {
		l := tc.metaLeader()
		return l != nil && len(l.ns.JetStreamClusterPeers()) == n
	}, fmt.Sprintf("no JetStream meta leader seeing %d servers", n))
}

func (tc *testCluster) metaLeader() *Server {
	for _, s := range tc.servers {
		if s != nil && s.ns.JetStreamIsLeader() {
			return s
		}
	}
	return nil
}

// shutdown stops the server called name.
func (tc *testCluster) shutdown(t *testing.T, name string) {
	t.Helper()
	for i, s := range tc.servers {
		if s != nil && s.Name() == name {
			s.Shutdown()
			tc.servers[i] = nil
			return
		}
	}
	t.Fatalf("no running server %q", name)
}

// dial returns a Bus with opts on a connection to any server of tc, logging
// into the returned buffer; the connection is closed when the test ends.
func (tc *testCluster) dial(t *testing.T, opts Options) (*Bus, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	b, nc, err := Dial(strings.Join(tc.urls, ","), t.Name(), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(nc.Close)
	return b, logs
}

// freePorts returns n distinct local TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// streamInfo returns the info of stream, failing the test on error.
func streamInfo(t *testing.T, b *Bus, stream string) *jetstream.StreamInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	return s.CachedInfo()
}

func ensure(t *testing.T, b *Bus, stream string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.EnsureStream(ctx, stream, subjects...); err != nil {
		t.Fatalf("ensure stream %s: %v", stream, err)
	}
}

func TestClusterStreamGetsThreeReplicasAndSurvivesLosingAServer(t *testing.T) {
	tc := startTestCluster(t, 3)
	b, logs := tc.dial(t, Options{}) // automatic replicas
	ensure(t, b, "ORDERS", "orders.>")
	for _, stream := range []string{"ORDERS", DLQStream} {
		if got := streamInfo(t, b, stream).Config.Replicas; got != 3 {
			t.Fatalf("%s has %d replicas in a 3-server cluster, want 3", stream, got)
		}
	}
	if !strings.Contains(logs.String(), `msg="stream replicas" stream=ORDERS replicas=3 why="automatic: NATS cluster \"herald\" placed 3 replicas"`) {
		t.Errorf("the choice of 3 replicas is not logged with its reason:\n%s", logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "orders.created", "order-1", []byte("one")); err != nil {
		t.Fatalf("publish to the R3 stream: %v", err)
	}

	// Lose the stream's leader: the two others elect a new one and keep
	// every acknowledged event.
	info := streamInfo(t, b, "ORDERS")
	tc.shutdown(t, info.Cluster.Leader)
	eventually(t, 30*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		return b.Publish(pctx, "orders.created", "order-2", []byte("two")) == nil
	}, "publish not acknowledged after losing the stream leader")
	var got []Stored
	eventually(t, 30*time.Second, func() bool {
		var err error
		got, err = b.Read(ctx, "ORDERS", nil, 0, 0)
		return err == nil && len(got) == 2
	}, fmt.Sprintf("read after losing a server: %d events, want 2", len(got)))
	if string(got[0].Data) != "one" || string(got[1].Data) != "two" {
		t.Fatalf("read %q, %q; want one, two", got[0].Data, got[1].Data)
	}

	// With a server down, the cluster still has 3 peers: the existing
	// stream keeps 3 replicas, and a new one gets 3, one of them to catch up
	// when the server is back.
	ensure(t, b, "ORDERS", "orders.>")
	ensure(t, b, "LATER", "later.>")
	for _, stream := range []string{"ORDERS", "LATER"} {
		if got := streamInfo(t, b, stream).Config.Replicas; got != 3 {
			t.Fatalf("ensuring %s with a server down gave %d replicas, want 3", stream, got)
		}
	}
}

func TestExplicitReplicasAreExactAndAutomaticNeverLowers(t *testing.T) {
	tc := startTestCluster(t, 3)
	one, _ := tc.dial(t, Options{Replicas: 1})
	auto, logs := tc.dial(t, Options{})
	three, _ := tc.dial(t, Options{Replicas: 3})
	for _, step := range []struct {
		bus  *Bus
		what string
		want int
	}{
		{one, "explicit 1 creates", 1},
		{auto, "automatic raises an R1 stream to", 3},
		{one, "explicit 1 lowers an R3 stream to exactly", 1},
		{three, "explicit 3 raises an R1 stream to exactly", 3},
		{auto, "automatic keeps an R3 stream at", 3},
	} {
		ensure(t, step.bus, "ADJUST", "adjust.>")
		if got := streamInfo(t, step.bus, "ADJUST").Config.Replicas; got != step.want {
			t.Fatalf("%s %d: stream has %d replicas", step.what, step.want, got)
		}
	}
	if !strings.Contains(logs.String(), "stream=ADJUST replicas=3") {
		t.Errorf("automatic mode did not log its choice:\n%s", logs)
	}
}

func TestAutomaticReplicasAreOneWhenTheClusterCannotPlaceThree(t *testing.T) {
	tc := startTestCluster(t, 2)
	b, logs := tc.dial(t, Options{})
	ensure(t, b, "PAIR", "pair.>")
	if got := streamInfo(t, b, "PAIR").Config.Replicas; got != 1 {
		t.Fatalf("a stream in a 2-server cluster has %d replicas, want 1", got)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="stream replicas" stream=PAIR replicas=1 why="automatic: NATS cluster \"herald\" cannot place 3 replicas now`) {
		t.Errorf("the fallback to 1 replica is not a warning with its reason:\n%s", logs)
	}
}

// TestServicesStartingAtOnceOnANewClusterAllEnsureTheStreams: on a cluster
// with no streams yet, services start together, each connected to another
// server, and each ensures the same streams and a consumer of its own. All
// of them get through well within a service's 30s start deadline, and the
// streams exist once, with 3 replicas. (CreateOrUpdateStream raced like
// this often went unanswered until the deadline.)
func TestServicesStartingAtOnceOnANewClusterAllEnsureTheStreams(t *testing.T) {
	tc := startTestCluster(t, 3)
	const services = 6
	var wg sync.WaitGroup
	errs := make([]error, services)
	took := make([]time.Duration, services)
	for i := range services {
		b, nc, err := Dial(tc.urls[i%len(tc.urls)], fmt.Sprintf("service-%d", i), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		wg.Go(func() {
			began := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs[i] = b.EnsureStream(ctx, "SHOP", "shop.>")
			if errs[i] == nil {
				var sub bus.Subscription
				sub, errs[i] = b.Subscribe(ctx, bus.Consumer{Name: fmt.Sprintf("c%d", i), Stream: "SHOP", FromStart: true},
					func(context.Context, bus.Message) error { return nil })
				if sub != nil {
					defer sub.Stop(ctx)
				}
			}
			took[i] = time.Since(began)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("service %d (on %s) after %v: %v", i, tc.urls[i%len(tc.urls)], took[i].Round(time.Millisecond), err)
		}
	}
	t.Logf("start times: %v", took)
	b, _ := tc.dial(t, Options{})
	for _, stream := range []string{"SHOP", DLQStream} {
		if r := streamInfo(t, b, stream).Config.Replicas; r != 3 {
			t.Errorf("stream %s has %d replicas, want 3", stream, r)
		}
	}
}
