package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The scale scenario's reads after a replica has caught up: open-loop, at
// a rate the query serves with CPU to spare, as the reads of the rebuild
// scenario, so that a slower read shows in the latencies.
const (
	scaleReadRate  = 2000
	scaleReadConns = 16
	// scaleAnswers is how many users, drawn at random among those whose
	// events are all in the stream, the reads ask for.
	scaleAnswers = 5000
	// scaleProducts is the shop's number of products in every size: a
	// user's answer holds at most this many, however many orders the user
	// has, so the reads of every size fetch answers of about one size.
	scaleProducts = 5
	// scaleLimit is the longest a replica may take to catch up.
	scaleLimit = 15 * time.Minute
)

// scaleCase is one size of the scale scenario: a stream of events events
// from a shop of users users.
type scaleCase struct {
	users, events int
}

func (c scaleCase) String() string {
	return fmt.Sprintf("%s users, %s events", short(c.users), short(c.events))
}

// dataset is the shop of c: scaleProducts products, then each user and
// enough orders per user (and their cancellations, one in ten) that the
// stream has c.events events; its last users may be cut short.
func (c scaleCase) dataset() Dataset {
	// Each user gives 1 + k + about k/10 events; counting k/20 leaves a
	// margin, so that the cancellations' chance never leaves the stream
	// short.
	per := float64(c.events-scaleProducts) / float64(c.users)
	k := max(1, int(math.Ceil((per-1)/1.05)))
	return Dataset{Seed: 3, Users: c.users, Products: scaleProducts, OrdersPerUser: k}
}

// runScale measures what an event costs as the data grows: a fresh query
// replica building its read model from a stream of events, in three
// sizes: few users and few events, few users and many events, many users
// and as many events. For each, the CPU time per event applied of the
// replica and of the bus (from /proc), and the p99 of reads of random
// users once it has caught up. Many users are compared with few at the
// same number of events, many events with few at the same number of
// users: the goal is a cost as flat as can be, within 20%.
func runScale(ctx context.Context, e *env) error {
	users, events := e.sz.ScaleUsers, e.sz.ScaleEvents
	base := scaleCase{users[0], events[0]}
	manyEvents := scaleCase{users[0], events[1]}
	manyUsers := scaleCase{users[1], events[1]}
	e.note("a fresh herald serve query building its read model from a stream, per size; %d products (answers of at most %d); reads of %s random users at %d/s over %d connections for %s once caught up",
		scaleProducts, scaleProducts, thousands(scaleAnswers), scaleReadRate, scaleReadConns, e.sz.Duration)
	figs := map[scaleCase]Figures{}
	for i, c := range []scaleCase{base, manyEvents, manyUsers} {
		f, err := e.scaleRound(ctx, fmt.Sprintf("size%d", i+1), c)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		figs[c] = f
	}
	show := []string{"cpu_us_per_event", "cpu_us_query", "cpu_us_bus", "p99_ms", "per_s", "cpu_cores", "peak_rss_mb", "users"}
	targets := func(what string) []Target {
		return []Target{
			{Text: "CPU µs per event applied, " + what + ", ≤ 1.2x", Key: "cpu_us_per_event", Ratio: true, Op: "<=", Value: 1.2},
			{Text: "read p99, " + what + ", ≤ 1.2x", Key: "p99_ms", Ratio: true, Op: "<=", Value: 1.2},
		}
	}
	for _, v := range []struct {
		c         *Comparison
		big, less scaleCase
	}{
		{&Comparison{Name: fmt.Sprintf("%s ÷ %s users, %s events", short(manyUsers.users), short(base.users), short(manyUsers.events)), Show: show,
			Targets: targets(short(manyUsers.users) + " users ÷ " + short(base.users))}, manyUsers, manyEvents},
		{&Comparison{Name: fmt.Sprintf("%s ÷ %s events, %s users", short(manyEvents.events), short(base.events), short(base.users)), Show: show,
			Targets: targets(short(manyEvents.events) + " events ÷ " + short(base.events))}, manyEvents, base},
	} {
		e.compare(v.c, side{what: v.big.String()}, []Figures{figs[v.big]}, side{what: v.less.String()}, []Figures{figs[v.less]})
		e.noteFlat(v.c)
	}
	return nil
}

// noteFlat notes where c's cost is not flat: each ratio of a target
// missed, with the processes' shares of the CPU time.
func (e *env) noteFlat(c *Comparison) {
	for _, t := range c.Targets {
		if t.Pass {
			continue
		}
		switch t.Key {
		case "cpu_us_per_event":
			e.note("%s: not flat: CPU per event %.1f µs against %.1f (%.2fx); the query's %.1f against %.1f, the bus's %.1f against %.1f",
				c.Name, c.Herald.Median["cpu_us_per_event"], c.Anchor.Median["cpu_us_per_event"], t.Measured,
				c.Herald.Median["cpu_us_query"], c.Anchor.Median["cpu_us_query"], c.Herald.Median["cpu_us_bus"], c.Anchor.Median["cpu_us_bus"])
		default:
			e.note("%s: not flat: %s %.2f against %.2f (%.2fx)", c.Name, unit(t.Key), c.Herald.Median[t.Key], c.Anchor.Median[t.Key], t.Measured)
		}
	}
}

// scaleRound measures size c: a bus whose stream holds c's events, a
// fresh query replica catching up with it, CPU measured, then reads once
// it has; it stops both and deletes their data. Its figures: those of
// catchUp (per_s, events, seconds), the CPU time per event applied of
// the query and the bus (cpu_us_query, cpu_us_bus) and their sum
// (cpu_us_per_event), the cores they kept busy meanwhile on average
// (cpu_cores: their CPU time ÷ the time taken), the query's peak RSS, the users whose events are all
// in the stream, and the reads' (p50_ms, p99_ms, ok_share and so on).
func (e *env) scaleRound(ctx context.Context, name string, c scaleCase) (Figures, error) {
	defer os.RemoveAll(filepath.Join(e.work, e.scenario, name+"-bus"))
	defer os.RemoveAll(filepath.Join(e.work, e.scenario, name+"-query"))
	d := c.dataset()
	bus, _, err := e.seededBus(ctx, name+"-bus", d, c.events, "scale, "+c.String())
	if err != nil {
		return nil, err
	}
	defer e.procs.stop(bus)
	dir, err := e.dir(name + "-query")
	if err != nil {
		return nil, err
	}
	up, err := e.catchUp(ctx, fmt.Sprintf("scale, %s: a fresh query applies them", c), bus.URL("bus"), dir, "", scaleLimit, map[string]*proc{"bus": bus}, nil)
	if up.query != nil {
		defer e.procs.stop(up.query)
	}
	if err != nil {
		return nil, err
	}
	if !up.complete || up.applied != int64(c.events) {
		return nil, fmt.Errorf("the query applied %d of %d events in %s", up.applied, c.events, up.elapsed.Round(time.Second))
	}
	f := up.figures()
	delete(up.cpu, cpuBench) // the bench only asked for metrics meanwhile
	cpuFigures(f, up.cpu, up.applied)
	var busy time.Duration
	for _, d := range up.cpu {
		busy += d
	}
	if len(up.cpu) > 0 {
		// Below the machine's cores, the replica waited (for the disk,
		// the bus) rather than computed.
		f["cpu_cores"] = busy.Seconds() / up.elapsed.Seconds()
	}
	if rss := peakRSS(up.query.Pid()); rss > 0 {
		f["peak_rss_mb"] = float64(rss) / (1 << 20)
	}
	complete := completeUsers(d, c.events)
	f["users"] = float64(complete)

	// Reads of a sample of the users whose events are all in.
	rnd := rand.New(rand.NewPCG(5, uint64(c.users)))
	ids := make([]int, min(complete, scaleAnswers))
	for i, u := range rnd.Perm(complete)[:len(ids)] {
		ids[i] = u + 1
	}
	answers := make([][]byte, len(ids))
	for i, u := range ids {
		answers[i] = d.AnswerJSON(int64(u))
	}
	qURL := up.query.URL("query")
	reads := func(seed uint64, dur time.Duration) Load {
		return Load{Conns: scaleReadConns, Rate: scaleReadRate, Duration: dur, Seed: seed, Raw: e.someUsersProducts(qURL, ids, answers)}
	}
	if res := e.loadRound(ctx, fmt.Sprintf("scale, %s: warming up the reads", c), reads(1, e.sz.Warm)); res.OK == 0 {
		return nil, fmt.Errorf("no read answered right: %s", res.FirstError)
	}
	res := e.loadRound(ctx, fmt.Sprintf("scale, %s: reads", c), reads(2, e.sz.Duration))
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.Failed+res.Wrong > 0 {
		e.note("%s: %d reads failed and %d wrong of %d; first: %s", c, res.Failed, res.Wrong, res.Requests, firstLine(res.FirstError))
	}
	for k, v := range res.Figures() {
		if k != "req_per_s" {
			f[k] = v
		}
	}
	e.note("%s (%d orders per user, %s users complete): applied in %s (%s/s), %.1f µs of CPU per event (query %.1f, bus %.1f), %.2f cores busy; read p99 %.2f ms",
		c, d.OrdersPerUser, thousands(float64(complete)), up.elapsed.Round(100*time.Millisecond), thousands(f["per_s"]),
		f["cpu_us_per_event"], f["cpu_us_query"], f["cpu_us_bus"], f["cpu_cores"], f["p99_ms"])
	return f, nil
}

// someUsersProducts requests GET /users/{u}/products at base of a user
// drawn from users, as the operator, with the raw load, and checks the
// answer: answers[i] is users[i]'s.
func (e *env) someUsersProducts(base string, users []int, answers [][]byte) *RawGets {
	return &RawGets{URL: base, Header: bearerHeader(e.adminToken()), Get: func(rnd *rand.Rand) (string, func(int, []byte) Outcome) {
		i := rnd.IntN(len(users))
		return userProductsPath(users[i]), answerCheck(answers[i])
	}}
}

// answerCheck judges an answer to GET /users/{u}/products whose right
// body is want.
func answerCheck(want []byte) func(int, []byte) Outcome {
	return func(status int, body []byte) Outcome {
		switch {
		case status != http.StatusOK:
			return Failed
		case !sameAnswer(body, want):
			return Wrong
		}
		return OK
	}
}

// short writes n as 10k, 1M, 2.5M.
func short(n int) string {
	for _, u := range []struct {
		div    float64
		suffix string
	}{{1e6, "M"}, {1e3, "k"}} {
		if v := float64(n) / u.div; v >= 1 {
			return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0") + u.suffix
		}
	}
	return fmt.Sprint(n)
}
