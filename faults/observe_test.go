//go:build faults

package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/event"
)

// lagWatch keeps the highest query consumer lag seen. It is safe for
// concurrent use.
type lagWatch struct {
	mu  sync.Mutex
	max int64
}

func (w *lagWatch) note(lag int64) {
	w.mu.Lock()
	w.max = max(w.max, lag)
	w.mu.Unlock()
}

func (w *lagWatch) highest() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

// watchLag samples the query service every 250ms until ctx is done.
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
		}
	}
}

// sampleQuery reads herald_consumer_lag and herald_events_duplicate_total
// from the query service's /metrics. The duplicate count is kept per process
// (a restart starts it at zero again); it is kept only if the process was
// still alive after answering, so a reading is never credited to the wrong
// lifetime. While the query service cannot answer, the lag is read from the
// bus instead.
func (c *cluster) sampleQuery() {
	p := c.proc("query")
	if p != nil && p.alive() {
		lag, dup, err := c.queryMetrics()
		if err == nil && p.alive() {
			p.noteDuplicates(dup)
			if lag >= 0 { // -1 means the service could not ask the bus
				c.lag.note(int64(lag))
			}
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if lag, err := c.consumerLag(ctx, "shop-query"); err == nil {
		c.lag.note(int64(lag))
	}
}

// queryMetrics returns the query service's consumer lag and duplicate count.
func (c *cluster) queryMetrics() (lag, dup float64, err error) {
	text, err := c.metrics("query")
	if err != nil {
		return 0, 0, err
	}
	lag, ok1 := metricValue(text, `herald_consumer_lag{consumer="shop-query"}`)
	dup, ok2 := metricValue(text, "herald_events_duplicate_total")
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("query /metrics lacks the lag or duplicate metric")
	}
	return lag, dup, nil
}

// metrics returns a service's /metrics text.
func (c *cluster) metrics(name string) (string, error) {
	resp, err := c.http.Get(c.url(name) + "/metrics")
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

// duplicates is the query service's duplicate count summed over every
// lifetime of its process.
func (c *cluster) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.procs {
		if p.role == "query" {
			n += p.duplicates()
		}
	}
	return n
}

// consumerLag asks the bus how many events the durable consumer has not
// acknowledged yet: waiting, or delivered and in progress.
func (c *cluster) consumerLag(ctx context.Context, consumer string) (uint64, error) {
	cons, err := c.js.Consumer(ctx, event.ShopStream, consumer)
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// streamState returns the message count and sequences of a stream.
func (c *cluster) streamState(ctx context.Context, stream string) (jetstream.StreamState, error) {
	s, err := c.js.Stream(ctx, stream)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

// deadLetters returns how many messages each consumer dead-lettered.
func (c *cluster) deadLetters(ctx context.Context) (map[string]int, error) {
	dls, err := c.bus.DeadLetters(ctx, "")
	if err != nil {
		return nil, err
	}
	n := map[string]int{}
	for _, d := range dls {
		n[d.Consumer]++
	}
	return n, nil
}
