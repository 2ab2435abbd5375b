package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test run this test binary as the herald command itself, so
// signal handling is tested on a real process without building anything.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is `herald up` running in a child process.
type process struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	urls   map[string]string
}

func startUp(t *testing.T, dir string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "up", "shop", "--data", dir, "--nats-listen", "", "--dashboard-addr", "127.0.0.1:0",
		"--users-addr", "127.0.0.1:0", "--products-addr", "127.0.0.1:0",
		"--orders-addr", "127.0.0.1:0", "--query-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HERALD_TEST_RUN_MAIN=1")
	p := &process{cmd: cmd, stderr: &bytes.Buffer{}, urls: map[string]string{}}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "http://") {
			p.urls[f[1]] = f[2] // app, service, URL
		}
		if strings.HasPrefix(line, "Press Ctrl-C") {
			break
		}
	}
	if len(p.urls) != 4 {
		t.Fatalf("herald up printed %v; stderr:\n%s", p.urls, p.stderr)
	}
	go func() { // keep draining stdout
		for lines.Scan() {
		}
	}()
	return p
}

// stop sends sig and waits for a clean exit.
func (p *process) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("herald up exited with %v after %v; stderr:\n%s", err, sig, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("herald up still running 30s after %v", sig)
	}
	if !strings.Contains(p.stderr.String(), "stopped cleanly") {
		t.Fatalf("no clean stop after %v; stderr:\n%s", sig, p.stderr)
	}
}

func TestSignalStopsCleanlyAndRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	p := startUp(t, dir)
	tok := operatorToken(t, dir)
	user := post(t, tok, p.urls["users"]+"/users", map[string]string{"name": "Sig", "email": "sig@example.com", "password": "correct horse battery"})
	hat := post(t, tok, p.urls["products"]+"/products", map[string]string{"title": "hat", "image": "hat.png"})
	post(t, tok, p.urls["orders"]+"/orders", map[string]int64{"userId": user, "productId": hat})
	view := fmt.Sprintf(`[{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, hat)
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", p.urls["query"], user), view)
	p.stop(t, syscall.SIGTERM)

	p = startUp(t, dir)
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", p.urls["query"], user), view)
	mug := post(t, tok, p.urls["products"]+"/products", map[string]string{"title": "mug", "image": "mug.png"})
	post(t, tok, p.urls["orders"]+"/orders", map[string]int64{"userId": user, "productId": mug})
	view = fmt.Sprintf(`[{"id":%d,"title":"mug","image":"mug.png","price":0,"currency":"EUR"},{"id":%d,"title":"hat","image":"hat.png","price":0,"currency":"EUR"}]`, mug, hat)
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", p.urls["query"], user), view)
	p.stop(t, syscall.SIGINT)

	p = startUp(t, dir)
	waitBodyAs(t, tok, fmt.Sprintf("%s/users/%d/products", p.urls["query"], user), view)
	p.stop(t, syscall.SIGTERM)
}
