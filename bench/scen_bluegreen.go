package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The read load during a blue/green rebuild and without one: open-loop,
// at a rate the query serves with CPU to spare, so that what the rebuild
// costs the reads shows in their latencies rather than in a throughput
// both sides would cap.
const (
	blueGreenReadRate  = 2000
	blueGreenReadConns = 16
	// blueGreenAnswers is how many users' answers the reads ask for (the
	// first ones, each complete in the stream).
	blueGreenAnswers = 20_000
)

// blueGreen is a herald serve query (the unnamed one, its own --data) that
// has applied the rebuild scenario's whole stream, and herald rebuild
// query run against it as an operator would: each run builds the next
// generation of its read model from the stream while it serves, then
// switches to it.
type blueGreen struct {
	e       *env
	query   *proc
	dir     string // its --data, where its generations are
	busURL  string
	answers [][]byte // the answer of users 1 to len(answers)
}

// startBlueGreen starts the query on the bus at busURL and waits until it
// has applied the n events of d the stream holds (its consumer's lag is 0),
// then checks that it answers right.
func (e *env) startBlueGreen(ctx context.Context, busURL string, d Dataset, n int) (*blueGreen, error) {
	dir, err := e.dir("bluegreen")
	if err != nil {
		return nil, err
	}
	var applied atomic.Int64
	stop := e.p.track(fmt.Sprintf("rebuild: the query for blue/green applies %s events", thousands(float64(n))), &applied, "events")
	start := time.Now()
	q, err := e.serve(ctx, "query", busURL, dir)
	if err != nil {
		stop()
		return nil, err
	}
	lag := `herald_consumer_lag{consumer="shop-query"}`
	handled := `herald_events_handled_total{consumer="shop-query",result="ok"}`
	deadline := start.Add(15 * time.Minute)
	for {
		if !q.alive() {
			stop()
			return nil, fmt.Errorf("the query for blue/green exited; its log %s ends:\n%s", q.logPath, q.tail())
		}
		h, herr := e.metric(ctx, q.URL("query"), handled)
		l, lerr := e.metric(ctx, q.URL("query"), lag)
		if herr == nil {
			applied.Store(int64(h))
		}
		if herr == nil && lerr == nil && l == 0 && int(h) >= n {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("the query for blue/green applied %d of %d events in %s (%v, %v)", applied.Load(), n, time.Since(start).Round(time.Second), herr, lerr)
		}
		t := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	stop()
	e.note("blue/green: a herald serve query applied the %s events in %s (%s/s) before its rounds",
		thousands(float64(n)), time.Since(start).Round(100*time.Millisecond), thousands(float64(n)/time.Since(start).Seconds()))
	bg := &blueGreen{e: e, query: q, dir: dir, busURL: busURL}
	users := min(completeUsers(d, n), blueGreenAnswers)
	for u := int64(1); u <= int64(users); u++ {
		bg.answers = append(bg.answers, d.AnswerJSON(u))
	}
	if err := checkAnswers(ctx, q.URL("query"), e.adminToken(), bg.answers); err != nil {
		return nil, fmt.Errorf("the query for blue/green: %w", err)
	}
	return bg, nil
}

// completeUsers returns how many users of d have all their events among
// d's first n (Events emits the products, then each user's events in turn).
func completeUsers(d Dataset, n int) int {
	total := d.Products
	for u := int64(1); u <= int64(d.Users); u++ {
		c := 1
		for _, o := range d.Orders(u) {
			c++
			if o.Cancelled {
				c++
			}
		}
		if total+c > n {
			return int(u - 1)
		}
		total += c
	}
	return d.Users
}

// generation is what GET /generation says of the live read model.
type generation struct {
	Generation int    `json:"generation"`
	First      string `json:"first"`
}

func (bg *blueGreen) generation(ctx context.Context) (generation, error) {
	var g generation
	status, body, err := getBody(ctx, bg.query.URL("query")+"/generation", bg.e.adminToken())
	if err == nil && status != 200 {
		err = fmt.Errorf("GET /generation: %d %s", status, truncate(string(body), 200))
	}
	if err == nil {
		err = json.Unmarshal(body, &g)
	}
	return g, err
}

// rebuiltRe is herald rebuild's last line: the generation now live, the
// events applied, in how long and at what rate.
var rebuiltRe = regexp.MustCompile(`query now reads generation (\d+): (\d+) events applied in (\S+) \((\d+)/s\)`)

// rebuild runs herald rebuild query once, as its own process, until it
// has switched the query to the next generation or limit (if > 0) has
// passed, when it is interrupted (SIGTERM) and measured on what it applied
// so far. Its figures: per_s, the rate herald rebuild reports (events
// applied ÷ the time from its first batch to the switch, the pause
// included); events; seconds, that time; wall_s, the whole process's run
// (connecting, counting, the switch); complete, 1 once the query reads the
// new generation (which is then checked with a few answers).
func (bg *blueGreen) rebuild(ctx context.Context, what string, limit time.Duration) (Figures, error) {
	e := bg.e
	before, err := bg.generation(ctx)
	if err != nil {
		return nil, err
	}
	next := generationPath(before.First, before.Generation+1)
	keys, err := e.keys(ctx)
	if err != nil {
		return nil, err
	}
	args := []string{"rebuild", "query", "--nats", bg.busURL, "--data", bg.dir, "--token-file", filepath.Join(keys.dir, "admin.token"),
		"--addr", "query=" + strings.TrimPrefix(bg.query.URL("query"), "http://"), "--restart"}
	e.mu.Lock()
	if creds := e.creds[bg.busURL]; creds != "" {
		args = append(args, "--nats-credentials", creds)
	}
	e.mu.Unlock()
	var applied atomic.Int64
	stop := e.p.track(what, &applied, "events")
	start := time.Now()
	p, err := e.procs.launch("rebuild", args...)
	if err != nil {
		stop()
		return nil, err
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	interrupted := false
wait:
	for {
		select {
		case <-p.done:
			break wait
		case <-ctx.Done():
			e.procs.interrupt(p)
			stop()
			return nil, ctx.Err()
		case <-tick.C:
			if pos, err := rebuildApplied(next); err == nil {
				applied.Store(int64(pos))
			}
			if limit > 0 && time.Since(start) >= limit {
				e.procs.interrupt(p)
				interrupted = true
				break wait
			}
		}
	}
	wall := time.Since(start)
	stop()
	log, _ := os.ReadFile(p.logPath)
	f := Figures{"wall_s": wall.Seconds(), "complete": 0}
	if m := rebuiltRe.FindSubmatch(log); m != nil {
		gen, _ := strconv.Atoi(string(m[1]))
		events, _ := strconv.ParseFloat(string(m[2]), 64)
		took, err := time.ParseDuration(string(m[3]))
		if err != nil || gen != before.Generation+1 {
			return nil, fmt.Errorf("herald rebuild said %q, want generation %d and a duration", m[0], before.Generation+1)
		}
		f["per_s"], f["events"], f["seconds"], f["complete"] = events/took.Seconds(), events, took.Seconds(), 1
		after, err := bg.generation(ctx)
		if err != nil || after.Generation != gen {
			return nil, fmt.Errorf("herald rebuild switched the query to generation %d, but GET /generation says %d (%v)", gen, after.Generation, err)
		}
		if err := checkAnswers(ctx, bg.query.URL("query"), e.adminToken(), bg.answers); err != nil {
			return nil, fmt.Errorf("after the switch to generation %d: %w", gen, err)
		}
		return f, nil
	}
	if !interrupted {
		return nil, fmt.Errorf("herald rebuild query failed (%v); its log %s ends:\n%s", p.exitErr, p.logPath, p.tail())
	}
	// Interrupted at the limit: measured on the stream positions it
	// applied, every one an event of the query's in this stream.
	pos, err := rebuildApplied(next)
	if err != nil {
		return nil, fmt.Errorf("herald rebuild query interrupted at the limit, and its generation says nothing: %w", err)
	}
	f["per_s"], f["events"], f["seconds"] = float64(pos)/wall.Seconds(), float64(pos), wall.Seconds()
	return f, nil
}

// generationPath is the file of generation n of the read model whose
// first generation is first (store.Generations' naming).
func generationPath(first string, n int) string {
	if n <= 1 {
		return first
	}
	return strings.TrimSuffix(first, ".db") + ".g" + strconv.Itoa(n) + ".db"
}

// rebuildApplied reads how far a rebuild has applied the stream into the
// generation at path, opened read-only while the rebuild writes it. A
// rebuild stopped before it made the file or recorded any progress (a
// short --quick limit on a slow machine) has applied nothing.
func rebuildApplied(path string) (uint64, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(5000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var applied uint64
	err = db.QueryRow(`SELECT applied FROM herald_generation WHERE id = 1`).Scan(&applied)
	if errors.Is(err, sql.ErrNoRows) || (err != nil && strings.Contains(err.Error(), "no such table")) {
		return 0, nil // the rebuild has not recorded its first batch yet
	}
	if err != nil {
		return 0, fmt.Errorf("read %s's progress: %w", path, err)
	}
	return applied, nil
}

// reads are the read load of the blue/green comparison, round's: until
// ctx ends if d is 0.
func (bg *blueGreen) reads(round int, d time.Duration) Load {
	return Load{Conns: blueGreenReadConns, Rate: blueGreenReadRate, Duration: d, Seed: uint64(300 + round),
		Raw: bg.e.userProducts(bg.query.URL("query"), bg.answers)}
}

// readsDuringRebuild runs the read load for as long as one herald rebuild
// query runs (see rebuild), and returns the reads' figures with the
// rebuild's rate as rebuild_per_s, and how long the load ran.
func (bg *blueGreen) readsDuringRebuild(ctx context.Context, round int, limit time.Duration) (Figures, time.Duration, error) {
	e := bg.e
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := bg.reads(round, 0)
	results := make(chan LoadResult, 1)
	go func() { results <- l.Run(lctx) }()
	rf, err := bg.rebuild(ctx, fmt.Sprintf("rebuild: blue/green under %d reads/s, round %d/%d", blueGreenReadRate, round, e.sz.Rounds), limit)
	cancel()
	res := <-results
	if err != nil {
		return nil, 0, err
	}
	if res.Failed+res.Wrong > 0 {
		e.note("reads during blue/green round %d: %d failed and %d wrong of %d; first: %s", round, res.Failed, res.Wrong, res.Requests, firstLine(res.FirstError))
	}
	f := res.Figures()
	f["rebuild_per_s"], f["complete"] = rf["per_s"], rf["complete"]
	return f, res.Elapsed, nil
}
