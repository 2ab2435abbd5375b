package bench

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is how one request of a load went.
type Outcome int

const (
	// OK is the expected status with the expected body.
	OK Outcome = iota
	// Wrong is the expected status with a body that is not the right answer.
	Wrong
	// Failed is a transport error or an unexpected status.
	Failed
)

// Request builds one request of a load and says how to judge its answer.
// rnd is the calling worker's own random source.
type Request func(rnd *rand.Rand) (*http.Request, func(status int, body []byte) Outcome)

// Load is an HTTP load: Conns workers, each with its own keep-alive
// connection, sending requests for Duration, or until Count requests are
// done if Duration is 0. With Rate > 0 the load is open-loop instead:
// requests are scheduled at Rate per second and each latency is measured
// from its scheduled time, so a stall shows up in the latencies rather
// than slowing the schedule down.
//
// The requests are Request's, sent with net/http's client; or, if Raw is
// set, Raw's GETs, written and read by the load itself on plain TCP
// connections (see RawGets), which costs the machine a fraction of the
// CPU. Set one of the two.
type Load struct {
	Conns    int
	Duration time.Duration
	Count    int64
	Rate     float64
	Request  Request
	Raw      *RawGets
	Seed     uint64
	Done     *atomic.Int64 // if set, counts finished requests as they finish (for progress)
}

// LoadResult is what a load measured.
type LoadResult struct {
	Requests, OK, Wrong, Failed int64
	Elapsed                     time.Duration
	Latencies                   []time.Duration // of every OK request, unsorted
	Start                       time.Time
	FirstError                  string
}

// Throughput is OK requests per second.
func (r LoadResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Figures returns the result as figures: req_per_s, p50_ms, p99_ms,
// max_ms, ok_share, requests, errors, wrong.
func (r LoadResult) Figures() Figures {
	f := Figures{"req_per_s": r.Throughput(), "requests": float64(r.Requests), "errors": float64(r.Failed), "wrong": float64(r.Wrong)}
	if r.Requests > 0 {
		f["ok_share"] = float64(r.OK) / float64(r.Requests)
	}
	latencyFigures(f, "", r.Latencies)
	return f
}

// sender sends one request of a load on its worker's connection and
// judges the answer; errText describes an outcome that is not OK.
type sender func(rnd *rand.Rand) (out Outcome, errText string)

// Run runs the load until it is done or ctx ends, and returns what it
// measured; ctx ending stops it early without an error. A request started
// before then finishes and counts.
func (l Load) Run(ctx context.Context) LoadResult {
	// newSender returns a worker's sender and what closes its connection.
	var newSender func() (sender, func())
	if l.Raw != nil {
		newSender = l.Raw.sender
	} else {
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        l.Conns,
			MaxIdleConnsPerHost: l.Conns,
			MaxConnsPerHost:     l.Conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		newSender = func() (sender, func()) { return clientSender(ctx, client, l.Request), func() {} }
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	if l.Duration > 0 {
		var c2 context.CancelFunc
		ctx, c2 = context.WithDeadline(ctx, start.Add(l.Duration))
		defer c2()
	}
	// With a rate, a scheduler hands out send times; without, workers take
	// numbers until Count (if any) is reached.
	var schedule chan time.Time
	if l.Rate > 0 {
		schedule = make(chan time.Time, 1<<16)
		go func() {
			defer close(schedule)
			interval := time.Duration(float64(time.Second) / l.Rate)
			for i := int64(0); l.Count <= 0 || i < l.Count; i++ {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				schedule <- at
			}
		}()
	}
	var taken atomic.Int64
	results := make([]LoadResult, l.Conns)
	var wg sync.WaitGroup
	for w := range l.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(l.Seed, uint64(w)+1))
			res := &results[w]
			send, closeConn := newSender()
			defer closeConn()
			for ctx.Err() == nil {
				var at time.Time
				if schedule != nil {
					var ok bool
					select {
					case at, ok = <-schedule:
					case <-ctx.Done():
					}
					if !ok {
						return
					}
				} else {
					if l.Count > 0 && taken.Add(1) > l.Count {
						return
					}
					at = time.Now()
				}
				out, errText := send(rnd)
				lat := time.Since(at)
				res.Requests++
				switch out {
				case OK:
					res.OK++
					res.Latencies = append(res.Latencies, lat)
				case Wrong:
					res.Wrong++
				default:
					res.Failed++
				}
				if errText != "" && res.FirstError == "" {
					res.FirstError = errText
				}
				if l.Done != nil {
					l.Done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Requests in flight at the deadline finish and count: the elapsed
	// time runs until the last of them.
	total := LoadResult{Start: start, Elapsed: time.Since(start)}
	for _, r := range results {
		total.Requests += r.Requests
		total.OK += r.OK
		total.Wrong += r.Wrong
		total.Failed += r.Failed
		total.Latencies = append(total.Latencies, r.Latencies...)
		if total.FirstError == "" {
			total.FirstError = r.FirstError
		}
	}
	return total
}

// clientSender sends request's requests with client; a request started
// finishes even if ctx ends.
func clientSender(ctx context.Context, client *http.Client, request Request) sender {
	var buf bytes.Buffer
	return func(rnd *rand.Rand) (Outcome, string) {
		req, check := request(rnd)
		req = req.WithContext(context.WithoutCancel(ctx))
		resp, err := client.Do(req)
		if err != nil {
			return Failed, err.Error()
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil {
			return Failed, err.Error()
		}
		out := check(resp.StatusCode, buf.Bytes())
		if out != OK {
			return out, resp.Status + ": " + truncate(buf.String(), 200)
		}
		return OK, ""
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// drain reads and closes a response body, so its connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
