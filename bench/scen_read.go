package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"time"

	"github.com/heraldev/herald/shop/query"
)

// runRead measures GET /users/{id}/products on Herald's query service
// against a plain net/http handler answering a fixed body of the mean
// answer's size: the ceiling of any HTTP read on this machine. Both get
// the same requests, with the operator's token (the seeded users have no
// password to sign in with), which Herald's query verifies and the
// handler ignores.
//
// In the same rounds the load generator reads a trivial server (herald
// bench-anchor trivial: a canned answer per request, no net/http), which
// costs the machine next to nothing: what the generator gets there is its
// own ceiling, and it must be at least twice what it reports for Herald
// for Herald's figure to be Herald's and not the generator's.
func runRead(ctx context.Context, e *env) error {
	rig, err := e.readRig(ctx)
	if err != nil {
		return err
	}
	q, answers := rig.query, rig.answers
	size := e.data.MeanAnswerSize()
	fixed, err := e.anchor(ctx, "fixed", "--size", strconv.Itoa(size))
	if err != nil {
		return err
	}
	trivial, err := e.anchor(ctx, "trivial", "--size", strconv.Itoa(size))
	if err != nil {
		return err
	}
	body := FixedBody(size)
	c := &Comparison{
		Name: "http read",
		Show: []string{"req_per_s", "p50_ms", "p99_ms", "cpu_us_per_event", "cpu_us_server", "cpu_us_bench"},
		Targets: []Target{
			{Text: "query throughput ≥ 0.9x the ceiling's", Key: "req_per_s", Ratio: true, Op: ">=", Value: 0.9},
			{Text: "query p99 latency ≤ 1.3x the ceiling's", Key: "p99_ms", Ratio: true, Op: "<=", Value: 1.3},
		},
	}
	ceiling := &Comparison{
		Name: "generator ceiling",
		Show: []string{"req_per_s", "p99_ms", "cpu_us_server", "cpu_us_bench"},
		Targets: []Target{
			{Text: "the generator's ceiling (a trivial server) ≥ 2x what it reports for Herald's query: Herald ÷ ceiling ≤ 0.5x", Key: "req_per_s", Ratio: true, Op: "<=", Value: 0.5},
		},
	}
	e.note("%s users, %d orders each, %d products; %d connections; fixed body %d bytes (the mean answer)",
		thousands(float64(e.data.Users)), e.data.OrdersPerUser, e.data.Products, e.sz.Conns, len(body))
	// Each side measures the CPU time per request of its server and of
	// the bench, the load generator: what Herald's reads cost beside the
	// ceilings', and the generator's share of the machine.
	herald := withCPU(e.httpSide("read", "herald query", q.URL("query"), "query", Load{Raw: e.userProducts(q.URL("query"), answers)}),
		map[string]*proc{"server": q})
	handler := withCPU(e.httpSide("read", "fixed-body net/http handler", "", "", Load{Raw: fixedGets(fixed.URL("fixed"), e.adminToken(), e.data.Users, body)}),
		map[string]*proc{"server": fixed})
	gen := withCPU(e.httpSide("read", "load generator against a trivial server (canned answer, no net/http)", "", "",
		Load{Raw: fixedGets(trivial.URL("trivial"), e.adminToken(), e.data.Users, body)}), map[string]*proc{"server": trivial})
	figs, err := e.rounds(ctx, herald, handler, gen)
	if err != nil {
		return err
	}
	e.compare(c, herald, figs[0], handler, figs[1])
	e.compare(ceiling, herald, figs[0], gen, figs[2])
	if h := ceiling.Herald.Median["req_per_s"]; h > 0 {
		g := ceiling.Anchor.Median["req_per_s"]
		e.note("generator ceiling vs a trivial server: %s req/s = %.1fx what it reports for Herald (%s req/s)", thousands(g), g/h, thousands(h))
		if us, ok := ceiling.Herald.Median["cpu_us_bench"]; ok {
			e.note("the generator used %.1f µs of CPU per request of Herald's, %.2f of the machine's %d cores; Herald's query %.1f µs per request",
				us, us*h/1e6, runtime.NumCPU(), ceiling.Herald.Median["cpu_us_server"])
		}
	}
	return e.holdServers(ctx, q.URL("query"), fixed.URL("fixed"), trivial.URL("trivial"))
}

// holdServers keeps the read scenario's servers running for e.hold (if
// set), or until ctx ends, after printing how to load them with wrk.
func (e *env) holdServers(ctx context.Context, query, fixed, trivial string) error {
	if e.hold <= 0 {
		return nil
	}
	keys, err := e.keys(ctx)
	if err != nil {
		return err
	}
	token := filepath.Join(keys.dir, "admin.token")
	e.p.Printf("read: holding the servers for %s (Ctrl-C ends the run):", e.hold)
	e.p.Printf("  herald query  %s", query)
	e.p.Printf("  fixed-body    %s", fixed)
	e.p.Printf("  trivial       %s", trivial)
	e.p.Printf("  token         %s", token)
	e.p.Printf("  e.g. wrk -t2 -c64 -d10s -H \"Authorization: Bearer $(cat %s)\" %s/users/1/products", token, query)
	t := time.NewTimer(e.hold)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readRig is what the read scenarios read from: a herald bus, a herald
// serve query on the seeded shop data, and the answer each user must get.
type readRig struct {
	bus, query *proc
	answers    [][]byte
}

// readRig starts a readRig and checks that the query answers right.
func (e *env) readRig(ctx context.Context) (readRig, error) {
	var r readRig
	data, err := e.shopData(ctx, "data")
	if err != nil {
		return r, err
	}
	if r.bus, _, err = e.startBus(ctx, "bus", false); err != nil {
		return r, err
	}
	if r.query, err = e.serve(ctx, "query", r.bus.URL("bus"), data); err != nil {
		return r, err
	}
	r.answers = e.answers()
	if err := checkAnswers(ctx, r.query.URL("query"), e.adminToken(), r.answers); err != nil {
		return r, fmt.Errorf("herald query: %w", err)
	}
	return r, nil
}

// httpSide is a side that runs an HTTP load of reqs (a Load with its
// Request or Raw set) per round, e.sz.Conns connections for e.sz.Duration,
// fetching a CPU profile of service at profileURL meanwhile if profileURL
// is set.
func (e *env) httpSide(scenario, what, profileURL, service string, reqs Load) side {
	mk := func(round int) Load {
		l := reqs
		l.Conns, l.Duration, l.Seed = e.sz.Conns, e.sz.Duration, uint64(round)
		return l
	}
	return side{
		what: what,
		warm: func(ctx context.Context) error {
			l := mk(0)
			l.Duration = e.sz.Warm
			res := e.loadRound(ctx, fmt.Sprintf("%s: warming up %s", scenario, what), l)
			if res.OK == 0 {
				return fmt.Errorf("no request answered right: %s", res.FirstError)
			}
			return nil
		},
		run: func(ctx context.Context, round int) (Figures, error) {
			wait := func() {}
			if profileURL != "" {
				wait = e.profile(profileURL, service, round, profileSeconds(e.sz.Duration))
			}
			res := e.loadRound(ctx, fmt.Sprintf("%s: %s, round %d/%d", scenario, what, round, e.sz.Rounds), mk(round))
			wait()
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if res.Failed+res.Wrong > 0 {
				e.note("%s round %d: %d failed and %d wrong of %d requests; first: %s", what, round, res.Failed, res.Wrong, res.Requests, firstLine(res.FirstError))
			}
			return res.Figures(), nil
		},
	}
}

// answers returns the expected answer of every user of e.data, as the
// query service encodes it (index u-1 for user u), computed once.
func (e *env) answers() [][]byte {
	e.answersOnce.Do(func() {
		e.answerJSON = make([][]byte, e.data.Users)
		for u := range e.answerJSON {
			e.answerJSON[u] = e.data.AnswerJSON(int64(u + 1))
		}
	})
	return e.answerJSON
}

// userProducts requests GET /users/{u}/products of a random user at
// base, as the operator, with the raw load, and checks the answer.
func (e *env) userProducts(base string, answers [][]byte) *RawGets {
	return &RawGets{URL: base, Header: bearerHeader(e.adminToken()), Get: func(rnd *rand.Rand) (string, func(int, []byte) Outcome) {
		u := 1 + rnd.IntN(len(answers))
		return userProductsPath(u), answerCheck(answers[u-1])
	}}
}

func userProductsPath(u int) string { return "/users/" + strconv.Itoa(u) + "/products" }

// bearerHeader is a header carrying token as the Authorization bearer,
// or none if token is "".
func bearerHeader(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// sameAnswer reports whether body is the answer want (json.Marshal of
// []query.Product): byte for byte, or failing that once decoded.
func sameAnswer(body, want []byte) bool {
	if bytes.Equal(bytes.TrimSpace(body), want) {
		return true
	}
	var got, exp []query.Product
	if json.Unmarshal(body, &got) != nil || json.Unmarshal(want, &exp) != nil {
		return false
	}
	return reflect.DeepEqual(got, exp) || (len(got) == 0 && len(exp) == 0)
}

// fixedGets requests a fixed-body server at base on the same paths, with
// the same token, as the query service's, and checks the body.
func fixedGets(base, token string, users int, body []byte) *RawGets {
	return &RawGets{URL: base, Header: bearerHeader(token), Get: func(rnd *rand.Rand) (string, func(int, []byte) Outcome) {
		return userProductsPath(1 + rnd.IntN(users)), func(status int, b []byte) Outcome {
			switch {
			case status != http.StatusOK:
				return Failed
			case !bytes.Equal(b, body):
				return Wrong
			}
			return OK
		}
	}}
}

// checkAnswers checks the answers of a few users at base, asked with
// token, before any load.
func checkAnswers(ctx context.Context, base, token string, answers [][]byte) error {
	for _, u := range []int{1, 2, len(answers) / 2, len(answers)} {
		url := base + "/users/" + strconv.Itoa(u) + "/products"
		status, body, err := getBody(ctx, url, token)
		if err != nil {
			return err
		}
		if status != http.StatusOK || !sameAnswer(body, answers[u-1]) {
			return fmt.Errorf("GET %s: %d %s, want 200 %s", url, status, truncate(string(body), 300), answers[u-1])
		}
	}
	return nil
}
