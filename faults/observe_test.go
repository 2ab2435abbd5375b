//go:build faults || cluster

package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	hjs "github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/event"
)

// highWater keeps the highest value noted, such as the query consumer's
// lag or a counter read from a process's metrics. It is safe for
// concurrent use.
type highWater struct {
	mu  sync.Mutex
	max float64
}

func (h *highWater) note(v float64) {
	h.mu.Lock()
	h.max = max(h.max, v)
	h.mu.Unlock()
}

func (h *highWater) highest() float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.max
}

// watchLag samples every query role (and every orders instance, when
// there are several) every 250ms until ctx is done.
func (c *cluster) watchLag(ctx context.Context) {
	defer c.bg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			c.sampleQuery()
			if len(c.roles("orders")) > 1 {
				for _, role := range c.roles("orders") {
					c.sampleRole(role)
				}
			}
		}
	}
}

// sampleRole reads the counters of role that the figures and checks use,
// if it has any: a query role's lag and duplicates, or an orders
// instance's handled events when there are several.
func (c *cluster) sampleRole(role string) {
	switch serviceOf(role) {
	case "query":
		c.sampleReplica(role)
	case "orders":
		if len(c.roles("orders")) > 1 {
			c.sampleHandled(role)
		}
	}
}

// sampleQuery samples every query role; see sampleReplica.
func (c *cluster) sampleQuery() {
	for _, role := range c.roles("query") {
		c.sampleReplica(role)
	}
}

// sampleReplica reads herald_consumer_lag and herald_events_duplicate_total
// from the query role's /metrics. The duplicate count is kept per process
// (a restart starts it at zero again); it is kept only if the process was
// still alive after answering, so a reading is never credited to the wrong
// lifetime. While the role cannot answer, the lag is read from the bus
// instead.
func (c *cluster) sampleReplica(role string) {
	p := c.proc(role)
	if p != nil && p.alive() {
		lag, dup, err := c.queryMetrics(role)
		if err == nil && p.alive() {
			p.dup.note(dup)
			if lag >= 0 { // -1 means the service could not ask the bus
				c.lag.note(float64(lag))
			}
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if lag, err := c.consumerLag(ctx, consumerOf(role)); err == nil {
		c.lag.note(float64(lag))
	}
}

// queryMetrics returns the query role's consumer lag and duplicate count.
func (c *cluster) queryMetrics(role string) (lag, dup float64, err error) {
	text, err := c.metrics(role)
	if err != nil {
		return 0, 0, err
	}
	lag, ok1 := metricValue(text, `herald_consumer_lag{consumer="`+consumerOf(role)+`"}`)
	dup, ok2 := metricValue(text, "herald_events_duplicate_total")
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%s /metrics lacks the lag or duplicate metric", role)
	}
	return lag, dup, nil
}

// handledSeries is the count of orders' consumer events an orders instance
// handled without error.
const handledSeries = `herald_events_handled_total{consumer="shop-orders",result="ok"}`

// sampleHandled reads handledSeries from an orders role's /metrics, kept
// per process as sampleReplica keeps duplicates.
func (c *cluster) sampleHandled(role string) {
	p := c.proc(role)
	if p == nil || !p.alive() {
		return
	}
	text, err := c.metrics(role)
	if err != nil {
		return
	}
	if v, found := metricValue(text, handledSeries); found && p.alive() {
		p.handled.note(v)
	}
}

// handledBy sums, per orders role, the events its processes handled (over
// every lifetime).
func (c *cluster) handledBy() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := map[string]int{}
	for _, p := range c.procs {
		if serviceOf(p.role) == "orders" {
			n[p.role] += int(p.handled.highest())
		}
	}
	return n
}

// metrics returns a service role's /metrics text, read as the admin.
func (c *cluster) metrics(name string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, c.url(name)+"/metrics", nil)
	resp, err := c.http.Do(withToken(req, c.adminToken))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s /metrics answered %d", name, resp.StatusCode)
	}
	return string(b), nil
}

// metricValue finds the sample named series (name plus labels, exactly as
// Prometheus text prints them) in text.
func metricValue(text, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// duplicates is the duplicate count of the query roles summed over every
// lifetime of their processes.
func (c *cluster) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.procs {
		if serviceOf(p.role) == "query" {
			n += int(p.dup.highest())
		}
	}
	return n
}

// consumerLag asks the bus how many events the durable consumer has not
// acknowledged yet: waiting, or delivered and in progress.
func (c *cluster) consumerLag(ctx context.Context, consumer string) (uint64, error) {
	info, err := c.consumerState(ctx, consumer)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// consumerState asks the bus about a durable consumer of stream SHOP.
func (c *cluster) consumerState(ctx context.Context, consumer string) (*jetstream.ConsumerInfo, error) {
	var info *jetstream.ConsumerInfo
	err := hjs.UntilAnswered(ctx, func(ctx context.Context) error {
		cons, err := c.js.Consumer(ctx, event.ShopStream, consumer)
		if err == nil {
			info, err = cons.Info(ctx)
		}
		return err
	})
	return info, err
}

// streamState returns the message count and sequences of a stream.
func (c *cluster) streamState(ctx context.Context, stream string) (jetstream.StreamState, error) {
	info, err := c.streamInfo(ctx, stream)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

// streamInfo asks the bus about stream.
func (c *cluster) streamInfo(ctx context.Context, stream string) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := hjs.UntilAnswered(ctx, func(ctx context.Context) error {
		s, err := c.js.Stream(ctx, stream)
		if err == nil {
			info, err = s.Info(ctx)
		}
		return err
	})
	return info, err
}

// readStream returns every message of stream.
func (c *cluster) readStream(ctx context.Context, stream string) ([]hjs.Stored, error) {
	return c.bus.Read(ctx, stream, nil, 0, 0) // which rides out a cluster's elections itself
}

// deadLetters returns how many messages each consumer dead-lettered.
func (c *cluster) deadLetters(ctx context.Context) (map[string]int, error) {
	msgs, err := c.readStream(ctx, hjs.DLQStream)
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, m := range msgs {
		consumer := ""
		if v := m.Header[hjs.HeaderConsumer]; len(v) > 0 {
			consumer = v[0]
		}
		n[consumer]++
	}
	return n, nil
}
