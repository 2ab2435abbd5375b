package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/shop"
)

// runDashboard tests the dashboard's promise that it adds no cost to the
// services' hot paths while no one has it open: the read scenario's reads
// on Herald's query service, with a herald dashboard process running
// against the same bus and no page open, and with one live page open (an
// SSE reader of GET /api/live, which makes the dashboard ask every service
// for GET /status once a second), each against the query alone.
//
// The anchor must have no dashboard process at all, so the dashboard is
// started before each idle round and stopped after each open round: the
// rounds go query alone, dashboard idle, dashboard open, query alone, ...
// A dashboard kept running and only paused (SIGSTOP) for the anchor would
// still hold its connections; one started per round also shows that a
// fresh dashboard, which has just answered GET /api/topology, does not go
// on polling. Starting it, and checking it serves, happens between rounds,
// never during one.
func runDashboard(ctx context.Context, e *env) error {
	rig, err := e.readRig(ctx)
	if err != nil {
		return err
	}
	bus, qURL := rig.bus, rig.query.URL("query")
	reads := Load{Raw: e.userProducts(qURL, rig.answers)}

	// A dashboard that cannot see the query would measure nothing: fail
	// here, before any round.
	dash, err := e.dashboard(ctx, bus.URL("bus"), qURL)
	if err != nil {
		return err
	}
	if err := e.procs.stop(dash); err != nil {
		return fmt.Errorf("stopping herald dashboard: %w", err)
	}
	dash = nil

	const scenario = "dashboard"
	// The three sides read the same query service: the anchor's warm-up
	// warms it for all of them. Each side's CPU profiles of the query are
	// taken alike, so they cost each side the same.
	alone := e.httpSide(scenario, "query alone (no dashboard process)", qURL, "query-alone", reads)
	idle := e.httpSide(scenario, "query, herald dashboard running, no page open", qURL, "query-idle", reads)
	idle.warm = nil
	idleRun := idle.run
	idle.run = func(ctx context.Context, round int) (Figures, error) {
		var err error
		if dash, err = e.dashboard(ctx, bus.URL("bus"), qURL); err != nil {
			return nil, err
		}
		return idleRun(ctx, round)
	}
	open := e.httpSide(scenario, "query, herald dashboard with one live page (GET /api/live)", qURL, "query-open", reads)
	open.warm = nil
	openRun := open.run
	open.run = func(ctx context.Context, round int) (Figures, error) {
		if dash == nil || !dash.alive() {
			return nil, fmt.Errorf("herald dashboard is not running")
		}
		live, err := openLive(ctx, dash.URL("dashboard")+"/api/live")
		if err != nil {
			return nil, err
		}
		before := live.events.Load()
		f, err := openRun(ctx, round)
		during := live.events.Load() - before
		live.Close()
		if err != nil {
			return nil, err
		}
		serr := e.procs.stop(dash)
		dash = nil
		if serr != nil {
			return nil, fmt.Errorf("stopping herald dashboard: %w", serr)
		}
		if during == 0 {
			return nil, fmt.Errorf("the live page received no event: topology during the round (%d in all): the dashboard did not poll", live.events.Load())
		}
		f["live_events"] = float64(during)
		return f, nil
	}
	idleC := &Comparison{
		Name: "dashboard idle",
		Show: []string{"req_per_s", "p50_ms", "p99_ms"},
		Targets: []Target{
			{Text: "query throughput with the dashboard idle ≥ 0.95x the query alone's", Key: "req_per_s", Ratio: true, Op: ">=", Value: 0.95},
			{Text: "query p99 latency with the dashboard idle ≤ 1.1x the query alone's", Key: "p99_ms", Ratio: true, Op: "<=", Value: 1.1},
		},
	}
	openC := &Comparison{
		Name: "dashboard open",
		Show: []string{"req_per_s", "p50_ms", "p99_ms"},
		Targets: []Target{
			{Text: "query throughput with one live page open ≥ 0.9x the query alone's", Key: "req_per_s", Ratio: true, Op: ">=", Value: 0.9},
		},
	}
	e.note("%s users, %d orders each, %d products; %d connections; a new herald dashboard before each idle round, stopped after each open round; services other than query are down (asked at 127.0.0.1:0)",
		thousands(float64(e.data.Users)), e.data.OrdersPerUser, e.data.Products, e.sz.Conns)
	return e.alternateShared(ctx, alone, versus{idleC, idle}, versus{openC, open})
}

// dashboard runs herald dashboard on a free port against the bus at
// busURL, as the admin (the bus's credentials) with the run's operator
// token and keys, the query service at queryURL and every other service
// of the catalogue at 127.0.0.1:0 (refused at once: they do not run, and
// nothing else on this machine is asked). It returns once the dashboard
// answers GET /api/topology with the query up, or an error saying what it
// sees instead.
func (e *env) dashboard(ctx context.Context, busURL, queryURL string) (*proc, error) {
	k, err := e.keys(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	creds := e.creds[busURL]
	e.mu.Unlock()
	if creds == "" {
		return nil, fmt.Errorf("herald dashboard: no credentials for the bus at %s", busURL)
	}
	qu, err := url.Parse(queryURL)
	if err != nil {
		return nil, fmt.Errorf("herald dashboard: the query's URL: %w", err)
	}
	// Its --data holds nothing: every credential is given by a flag, and
	// no developer's ./herald-data is read.
	d, err := e.dir("dashboard-data")
	if err != nil {
		return nil, err
	}
	args := []string{"dashboard", "--nats", busURL, "--nats-credentials", creds, "--data", d,
		"--token-file", filepath.Join(k.dir, "admin.token"), "--auth-keys", filepath.Join(k.dir, "jwks.json"),
		"--listen", "127.0.0.1:0", "--addr", "query=" + qu.Host}
	for _, name := range (catalogue.Catalogue{shop.App(), blog.App(blog.Options{})}).Names() {
		if name != "query" {
			args = append(args, "--addr", name+"=127.0.0.1:0")
		}
	}
	p, err := e.procs.start(ctx, "dashboard", args...)
	if err != nil {
		return nil, err
	}
	base := p.URL("dashboard")
	if base == "" {
		return nil, fmt.Errorf("herald dashboard printed no URL; its log %s ends:\n%s", p.logPath, p.tail())
	}
	err = poll(ctx, 10*time.Second, 100*time.Millisecond, "herald dashboard sees the query up", func() (bool, error) {
		return topologyHasUp(ctx, base, "query")
	})
	if err != nil {
		return nil, fmt.Errorf("%w; its log %s ends:\n%s", err, p.logPath, p.tail())
	}
	return p, nil
}

// topologyHasUp reports whether the dashboard at base answers GET
// /api/topology 200 with the service called name up; the error says what
// it answers otherwise.
func topologyHasUp(ctx context.Context, base, name string) (bool, error) {
	status, body, err := getBody(ctx, base+"/api/topology", "")
	if err != nil {
		return false, err
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("GET /api/topology: %d %s", status, truncate(string(body), 300))
	}
	var top struct {
		Apps []struct {
			Services []struct {
				Name  string
				Up    bool
				Error string
			}
		}
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return false, fmt.Errorf("GET /api/topology: %w", err)
	}
	for _, a := range top.Apps {
		for _, s := range a.Services {
			if s.Name != name {
				continue
			}
			if !s.Up {
				return false, fmt.Errorf("GET /api/topology shows %s down: %s", name, s.Error)
			}
			return true, nil
		}
	}
	return false, fmt.Errorf("GET /api/topology lists no %s", name)
}

// liveClient is one page with the live topology open: it reads GET
// /api/live's server-sent events and discards them, counting the
// "event: topology" ones, until Close.
type liveClient struct {
	events atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

// openLive connects to the live topology at liveURL and returns once it
// answers 200 with an event stream, reading it in the background.
func openLive(ctx context.Context, liveURL string) (*liveClient, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, liveURL, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("live topology: %w", err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		drain(resp)
		cancel()
		return nil, fmt.Errorf("GET %s: %s (%s), want 200 text/event-stream", liveURL, resp.Status, ct)
	}
	c := &liveClient{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20) // a data line is the whole topology
		for sc.Scan() {
			if sc.Text() == "event: topology" {
				c.events.Add(1)
			}
		}
	}()
	return c, nil
}

// Close disconnects, as closing the page does, and waits until the reader
// has stopped.
func (c *liveClient) Close() {
	c.cancel()
	<-c.done
}
