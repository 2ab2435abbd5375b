package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/shop"
)

func TestBusClusterWithoutANameFailsWithAClearMessage(t *testing.T) {
	cmd := exec.Command(os.Args[0], "bus", "--data", t.TempDir(), "--listen", "127.0.0.1:0",
		"--cluster", "127.0.0.1:0", "--routes", "nats-route://127.0.0.1:6222")
	cmd.Env = append(os.Environ(), "HERALD_TEST_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("herald bus --cluster without --name: %v, want exit status 1; stderr:\n%s", err, &stderr)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("herald bus --cluster without --name is still running after 30s")
	}
	want := "herald: herald bus --cluster needs --name (HERALD_BUS_NAME): every server of a cluster needs its own name\n"
	if stderr.String() != want {
		t.Fatalf("stderr = %q, want %q", &stderr, want)
	}
}

func TestBusRefusesAnIncompleteCluster(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "127.0.0.1:0", "--name", "n1"}, "--cluster needs --routes (HERALD_BUS_ROUTES)"},
		{[]string{"--routes", "nats-route://127.0.0.1:6222"}, "--routes needs --cluster (HERALD_BUS_CLUSTER)"},
	} {
		var cl cli
		if _, err := mustParser(t, &cl).Parse(append([]string{"bus", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, c.args...)); err != nil {
			t.Fatal(err)
		}
		m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
		err := m.Bus(cl.Bus)
		if err == nil {
			closeMain(t, m)
			t.Fatalf("herald bus %v started", c.args)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("herald bus %v: %q does not say %q", c.args, err, c.want)
		}
	}
}

// busNode is one `herald bus` of a cluster, run in-process.
type busNode struct {
	m      *Main
	client string // its client URL, as printed
}

// startBusCluster runs n `herald bus` commands clustered with each other,
// each parsed from its command line like the real one, and returns them
// with the lines each printed.
func startBusCluster(t *testing.T, n int) ([]*busNode, string) {
	t.Helper()
	// Every server lets in the same users: herald nats-config's.
	creds := filepath.Join(t.TempDir(), "nats")
	var c cli
	if _, err := mustParser(t, &c).Parse([]string{"nats-config", "--dir", creds}); err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := (&Main{Log: slog.New(slog.DiscardHandler), Out: &conf}).NATSConfig(c.NATSConfig); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(conf.String(), "authorization {") {
		t.Fatalf("herald nats-config printed %q, want an authorization block", conf.String())
	}
	addrs := freeAddrs(t, 2*n) // client, then route addresses
	var routes []string
	for _, a := range addrs[n:] {
		routes = append(routes, "nats-route://"+a)
	}
	var nodes []*busNode
	for i := range n {
		var c cli
		args := []string{"bus", "--data", filepath.Join(t.TempDir(), "data"), "--listen", addrs[i], "--no-fsync",
			"--name", fmt.Sprintf("n%d", i+1), "--cluster", addrs[n+i], "--routes", strings.Join(routes, ","),
			"--nats-auth", filepath.Join(creds, jetstream.AuthFile)}
		if _, err := mustParser(t, &c).Parse(args); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		m := &Main{Log: slog.New(slog.DiscardHandler), Out: &out}
		if err := m.Bus(c.Bus); err != nil {
			t.Fatalf("herald %s: %v", strings.Join(args, " "), err)
		}
		t.Cleanup(func() { m.Close(context.Background()) })
		printed := out.String()
		client := "nats://" + addrs[i]
		for _, want := range []string{
			"clients connect to " + client + "\n",
			fmt.Sprintf("server n%d of cluster herald: routes listen on %s, joining %s\n", i+1, routes[i], strings.Join(routes, ",")),
		} {
			if !strings.Contains(printed, want) {
				t.Fatalf("herald bus printed %q, want it to contain %q", printed, want)
			}
		}
		nodes = append(nodes, &busNode{m: m, client: client})
	}
	return nodes, creds
}

// freeAddrs returns n distinct local addresses whose ports were free a
// moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close() // held until all are picked, so they differ
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

func TestServeOnAClusterOfBusesGetsThreeReplicasAndSurvivesLosingOne(t *testing.T) {
	nodes, creds := startBusCluster(t, 3)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.client)
	}
	nats := strings.Join(urls, ",")
	admin, _ := jetstream.InDir(creds, jetstream.AdminIdentity)
	opts, err := admin.Options()
	if err != nil {
		t.Fatal(err)
	}
	b, nc, err := jetstream.Dial(nats, "test", jetstream.Options{Replicas: 3}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// The cluster is ready for herald serve once it can place 3 replicas.
	waitFor(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return b.EnsureStream(ctx, "READY", "ready.>") == nil
	}, func() string { return "the cluster never placed a stream of 3 replicas" })

	var c cli
	if _, err := mustParser(t, &c).Parse([]string{"serve", "shop"}); err != nil {
		t.Fatal(err)
	}
	if c.Serve.Replicas != 0 {
		t.Fatalf("herald serve --replicas defaults to %d, want 0 (automatic)", c.Serve.Replicas)
	}
	m := &Main{Log: slog.New(slog.DiscardHandler), Out: io.Discard}
	data := t.TempDir()
	serve := serveCmd{serviceFlags: testFlags(data), Services: []string{"shop"}, NATS: nats, Replicas: c.Serve.Replicas}
	serve.NATSCredentials = creds
	if err := m.Serve(context.Background(), serve); err != nil {
		t.Fatal(err)
	}
	defer closeMain(t, m)
	for _, stream := range []string{shop.Stream, jetstream.DLQStream} {
		s, err := js.Stream(context.Background(), stream)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().Config.Replicas; got != 3 {
			t.Fatalf("herald serve made %s with %d replicas on a 3-server cluster, want 3", stream, got)
		}
	}

	tok := operatorToken(t, data)
	// One bus dies; the shop goes on, on the two others.
	closeMain(t, nodes[0].m)
	url := func(name string) string { return m.Service(name).URL() }
	user := post(t, tok, url("users")+"/users", map[string]string{"name": "Three", "email": "three@example.com", "password": "correct horse battery"})
	hat := post(t, tok, url("products")+"/products", map[string]string{"title": "hat", "image": "hat.png"})
	post(t, tok, url("orders")+"/orders", map[string]int64{"userId": user, "productId": hat})
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", url("query"), user), fmt.Sprintf(`[{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, hat))
}
