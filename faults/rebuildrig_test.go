//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/shopfold"
)

// The stream TestRebuildQuery rebuilds from: users, products, orders (one
// in ten cancelled) and a new version of every product, 100,600 events.
const (
	rebuildUsers    = 400
	rebuildProducts = 600
	rebuildOrders   = 90_000
)

// rebuildRig is TestRebuildQuery's deployment and what it does to it: it
// seeds the stream, runs reads and writes, starts herald rebuild and checks
// the query against a fold of the stream.
type rebuildRig struct {
	t *testing.T
	c *cluster
}

func newRebuildRig(t *testing.T, c *cluster) *rebuildRig { return &rebuildRig{t: t, c: c} }

// on returns the rig for the subtest t: its checks fail t, and so do the
// cluster's until t ends.
func (r *rebuildRig) on(t *testing.T) *rebuildRig {
	parent := r.c.t
	r.c.t = t
	t.Cleanup(func() { r.c.t = parent })
	return &rebuildRig{t: t, c: r.c}
}

// seed publishes the rebuild's stream onto SHOP as the shop's services
// would have written it, as the bus's admin, and returns how many events
// it published. They go in atomic batches of 1,000 (PublishGroup), four
// batches in flight: the bus fsyncs each batch once, where events sent
// one by one cost an fsync each and took minutes. Orders get ids from
// 1,000,001 on, above any the orders service gives the orders the test
// places.
func (r *rebuildRig) seed() int {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The admin's Bus learns that SHOP takes atomic batches.
	if err := r.c.bus.EnsureStream(ctx, event.ShopStream, event.ShopSubjects); err != nil {
		t.Fatalf("seed: %v", err)
	}
	var batch []bus.Outgoing
	var inFlight []func(context.Context) error
	n := 0
	wait := func(keep int) {
		for len(inFlight) > keep {
			if err := inFlight[0](ctx); err != nil {
				t.Fatalf("seed: %v", err)
			}
			inFlight = inFlight[1:]
		}
	}
	flush := func() {
		if len(batch) > 0 {
			inFlight = append(inFlight, r.c.bus.PublishGroup(batch))
			n += len(batch)
			batch = nil
		}
		wait(3)
	}
	add := func(source, typ string, id, version int64, data any) {
		e, err := event.New(source, typ, strconv.FormatInt(id, 10), version, data)
		if err != nil {
			t.Fatal(err)
		}
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, bus.Outgoing{Subject: event.Subject(typ), ID: e.ID, Data: b})
		if len(batch) == 1000 {
			flush()
		}
	}
	for u := int64(1); u <= rebuildUsers; u++ {
		add("/shop/users", event.UserCreated, u, 1, event.UserCreatedData{ID: u, Name: fmt.Sprint("user ", u), Email: fmt.Sprintf("u%d@example.com", u)})
	}
	for p := int64(1); p <= rebuildProducts; p++ {
		add("/shop/products", event.ProductCreated, p, 1, event.ProductData{ID: p, Title: fmt.Sprint("product ", p), Image: fmt.Sprintf("p%d.png", p)})
	}
	for o := int64(1); o <= rebuildOrders; o++ {
		id := 1_000_000 + o
		d := event.OrderData{ID: id, UserID: 1 + o%rebuildUsers, ProductID: 1 + (o*7)%rebuildProducts}
		add("/shop/orders", event.OrderCreated, id, 1, d)
		if o%10 == 0 {
			add("/shop/orders", event.OrderCancelled, id, 2, d)
		}
	}
	for p := int64(1); p <= rebuildProducts; p++ {
		add("/shop/products", event.ProductUpdated, p, 2, event.ProductData{ID: p, Title: fmt.Sprint("product ", p, " v2"), Image: fmt.Sprintf("p%d-v2.png", p)})
	}
	flush()
	wait(0)
	return n
}

// waitDrained waits until the write services' outboxes are empty, the
// query's and orders' consumers have nothing left and the stream stops
// growing, for up to three minutes.
func (r *rebuildRig) waitDrained(what string) {
	r.t.Helper()
	prev := ^uint64(0)
	err := waitFor(3*time.Minute, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return r.c.drained(ctx, &prev)
	})
	if err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
}

// sameAsFold fails the test unless the query answers every user as a fold
// of the whole stream does. Call it with no write going on.
func (r *rebuildRig) sameAsFold(when string) {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msgs, err := r.c.readStream(ctx, event.ShopStream)
	if err != nil {
		t.Fatalf("%s: read the stream: %v", when, err)
	}
	f := &shopfold.Fold{}
	for _, m := range msgs {
		if e, err := event.Parse(m.Data); err == nil {
			f.Add(e)
		}
	}
	users := f.Users()
	if len(users) < rebuildUsers {
		t.Fatalf("%s: the fold of %d events knows %d users, want %d", when, len(msgs), len(users), rebuildUsers)
	}
	var wrong []string
	shown := 0
	for _, u := range users {
		want, _ := f.Answer(u)
		status, b, err := r.get(fmt.Sprintf("/users/%d/products", u))
		var got []shopfold.Product
		if err == nil && status == http.StatusOK {
			err = json.Unmarshal(b, &got)
		}
		switch {
		case err != nil || status != http.StatusOK:
			wrong = append(wrong, fmt.Sprintf("user %d: %d %.200s %v", u, status, b, err))
		case fmt.Sprint(got) != fmt.Sprint(want):
			wrong = append(wrong, fmt.Sprintf("user %d: the query answers %.300v, the fold %.300v", u, got, want))
		}
		shown += len(want)
	}
	if len(wrong) > 0 {
		t.Fatalf("%s: %d of %d users are not answered as a fold of the stream's %d events does; the first:\n  %s",
			when, len(wrong), len(users), len(msgs), strings.Join(wrong[:min(5, len(wrong))], "\n  "))
	}
	t.Logf("%s: every one of %d users answered as a fold of the stream's %d events does (%d products shown)", when, len(users), len(msgs), shown)
}

// get GETs path from the query as the operator.
func (r *rebuildRig) get(path string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, r.c.url("query")+path, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := r.c.http.Do(withToken(req, r.c.adminToken))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// lastSeq is the stream's last position.
func (r *rebuildRig) lastSeq() uint64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := r.c.streamState(ctx, event.ShopStream)
	if err != nil {
		r.t.Fatal(err)
	}
	return st.LastSeq
}

// liveConsumerKeepsUp waits until the query's durable consumer has
// acknowledged every event the stream holds now, with the writes going on:
// the live generation applies them.
func (r *rebuildRig) liveConsumerKeepsUp(when string) {
	r.t.Helper()
	target := r.lastSeq()
	var floor uint64
	err := waitFor(time.Minute, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		info, err := r.c.consumerState(ctx, "shop-query")
		if err != nil {
			return err
		}
		if floor = info.AckFloor.Stream; floor < target {
			return fmt.Errorf("%w: shop-query acknowledged up to #%d", errNotYet, floor)
		}
		return nil
	})
	if err != nil {
		r.t.Fatalf("%s the query's consumer did not apply the writes up to #%d: %v", when, target, err)
	}
	r.t.Logf("%s the live generation applied the writes: shop-query acknowledged up to #%d (the stream was at #%d)", when, floor, target)
}

// startRebuild starts herald rebuild query as its own process, with env
// and more flags, against the deployment: the admin's NATS credentials,
// the operator token and the query's address.
func (r *rebuildRig) startRebuild(env []string, flags ...string) *proc {
	r.t.Helper()
	args := []string{"rebuild", "query", "--nats", r.c.natsURL(), "--data", r.c.dir,
		"--nats-credentials", r.c.natsCreds(), "--token-file", r.c.adminTokenFile(), "--addr", "query=" + r.c.addr("query")}
	p := r.c.spawn("rebuild", env, append(args, flags...))
	r.t.Logf("herald %s (pid %d)", strings.Join(append(args, flags...), " "), p.pid())
	return p
}

// waitRebuild waits up to five minutes for p to exit, fails the test unless
// it succeeded, and returns its output.
func (r *rebuildRig) waitRebuild(p *proc, gen int) string {
	r.t.Helper()
	if !p.waitExit(5 * time.Minute) {
		killNine(p)
		r.t.Fatalf("herald rebuild query (to generation %d) still running after 5 minutes; killed:\n%s", gen, p.tail(30))
	}
	if p.exitErr != nil {
		r.t.Fatalf("herald rebuild query (to generation %d): %v\n%s", gen, p.exitErr, p.tail(30))
	}
	out := p.logText()
	r.t.Logf("herald rebuild query said:\n%s", out)
	return out
}

// traffic is the reads and writes that go on during a rebuild: readers
// looping over every user's GET /users/{id}/products (three over kept-alive
// connections as fast as they go, one over a new connection every 5ms),
// and orders placed through the orders service every 10ms.
type traffic struct {
	l        *load
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	reads, failed atomic.Int64
	mu            sync.Mutex
	first         string // the first failed read
}

// startTraffic starts the readers and the writer; they stop at halt, or
// at the end of the test.
func (r *rebuildRig) startTraffic() *traffic {
	tr := &traffic{l: newLoad(r.t, r.c), stop: make(chan struct{})}
	r.t.Cleanup(tr.halt)
	keepAlive := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base, token := r.c.url("query"), r.c.adminToken
	// every runs f every interval (0: back to back) until halt.
	every := func(interval time.Duration, f func(i int64)) {
		tr.wg.Go(func() {
			var tick <-chan time.Time
			if interval > 0 {
				t := time.NewTicker(interval)
				defer t.Stop()
				tick = t.C
			}
			for i := int64(0); ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				if tick != nil {
					select {
					case <-tr.stop:
						return
					case <-tick:
					}
				}
				f(i)
			}
		})
	}
	for w := range int64(3) {
		every(0, func(i int64) {
			tr.read(keepAlive, fmt.Sprintf("%s/users/%d/products", base, 1+(i*3+w)%rebuildUsers), token)
		})
	}
	every(5*time.Millisecond, func(i int64) {
		tr.read(fresh, fmt.Sprintf("%s/users/%d/products", base, 1+(i*7)%rebuildUsers), token)
	})
	orders := r.c.url("orders") + "/orders"
	every(10*time.Millisecond, func(i int64) {
		tr.l.keep(tr.l.send(opOrder, http.MethodPost, orders, map[string]int64{"userId": 1 + i%rebuildUsers, "productId": 1 + (i*13)%rebuildProducts}))
	})
	return tr
}

// read GETs url as token and counts a failure unless it answers 200 with
// a JSON array.
func (tr *traffic) read(client *http.Client, url, token string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	started := time.Now()
	resp, err := client.Do(withToken(req, token))
	var why string
	if err != nil {
		why = err.Error()
	} else {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		var answer []json.RawMessage
		switch {
		case rerr != nil:
			why = fmt.Sprintf("%d, reading the body: %v", resp.StatusCode, rerr)
		case resp.StatusCode != http.StatusOK:
			why = fmt.Sprintf("%d %.200s", resp.StatusCode, b)
		case json.Unmarshal(b, &answer) != nil:
			why = fmt.Sprintf("200 but not a JSON array: %.200s", b)
		}
	}
	tr.reads.Add(1)
	if why == "" {
		return
	}
	tr.failed.Add(1)
	tr.mu.Lock()
	if tr.first == "" {
		tr.first = fmt.Sprintf("GET %s at %s (took %s): %s", url, started.Format("15:04:05.000"), time.Since(started).Round(time.Millisecond), why)
	}
	tr.mu.Unlock()
}

// halt stops the readers and the writer and waits for them.
func (tr *traffic) halt() {
	tr.stopOnce.Do(func() { close(tr.stop) })
	tr.wg.Wait()
}

// readCounts returns the reads made, those that failed, and the first
// failure.
func (tr *traffic) readCounts() (reads, failed int64, first string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.reads.Load(), tr.failed.Load(), tr.first
}
