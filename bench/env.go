package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// env is what a scenario runs in: the sizes, the children, its folders,
// the progress output and the result it fills in.
type env struct {
	sz       sizes
	hold     time.Duration // see Options.Hold
	procs    *procs
	work     string // scratch folder of the run; each scenario's data is under work/<scenario>
	out      string // results folder
	p        *progress
	data     Dataset
	scenario string
	res      *ScenarioResult

	templateOnce sync.Once
	template     string
	templateErr  error
	answersOnce  sync.Once
	answerJSON   [][]byte

	keysOnce sync.Once // makes runKeys (see keys)
	runKeys  runKeys
	keysErr  error

	// creds are the credentials dirs of the buses started, by client URL:
	// herald bus writes one NATS identity per service there.
	creds map[string]string
	helps map[string]string // herald <command> --help, by command

	mu      sync.Mutex // guards noPprof, creds, helps and res's notes and profiles, which profile fetches add to
	noPprof bool
	fetches sync.WaitGroup // profile fetches running
}

// note records a remark in the scenario's result and shows it.
func (e *env) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	e.mu.Lock()
	e.res.Notes = append(e.res.Notes, s)
	e.mu.Unlock()
	e.p.Printf("  note: %s", s)
}

// dir returns a new folder for the scenario, work/<scenario>/<name>.
func (e *env) dir(name string) (string, error) {
	d := filepath.Join(e.work, e.scenario, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	return d, nil
}

// startBus runs herald bus on a free port with its own storage, fsyncing
// every write unless noFsync, and connects the bench to it.
// extra are more flags.
func (e *env) startBus(ctx context.Context, name string, noFsync bool, extra ...string) (*proc, *natsConn, error) {
	d, err := e.dir(name)
	if err != nil {
		return nil, nil, err
	}
	args := []string{"bus", "--data", d, "--listen", "127.0.0.1:0"}
	if noFsync {
		args = append(args, "--no-fsync")
	}
	args = append(args, extra...)
	p, err := e.procs.start(ctx, name, args...)
	if err != nil {
		return nil, nil, err
	}
	if p.URL("bus") == "" {
		return nil, nil, fmt.Errorf("%s printed no client URL; its log %s ends:\n%s", name, p.logPath, p.tail())
	}
	creds := filepath.Join(d, "secrets", "nats")
	e.mu.Lock()
	if e.creds == nil {
		e.creds = map[string]string{}
	}
	e.creds[p.URL("bus")] = creds
	e.mu.Unlock()
	c, err := dialNATS(p.URL("bus"), creds)
	if err != nil {
		return nil, nil, err
	}
	go func() { <-p.done; c.Close() }()
	return p, c, nil
}

// serve runs herald serve service against the bus at busURL with its data
// in dataDir, on a free port, with profiling on (HERALD_PPROF), connecting
// as its own NATS identity and verifying tokens with the run's keys; extra
// are more flags.
func (e *env) serve(ctx context.Context, service, busURL, dataDir string, extra ...string) (*proc, error) {
	args := []string{"serve", service, "--nats", busURL, "--data", dataDir, "--addr", service + "=127.0.0.1:0"}
	e.mu.Lock()
	if creds := e.creds[busURL]; creds != "" {
		args = append(args, "--nats-credentials", creds)
	}
	e.mu.Unlock()
	auth, err := e.authFlags(ctx, service)
	if err != nil {
		return nil, err
	}
	args = append(args, auth...)
	args = append(args, extra...)
	p, err := e.procs.start(ctx, service, args...)
	if err != nil {
		return nil, err
	}
	if p.URL(service) == "" {
		return nil, fmt.Errorf("herald serve %s printed no URL; its log %s ends:\n%s", service, p.logPath, p.tail())
	}
	return p, nil
}

// anchor runs herald bench-anchor with args.
func (e *env) anchor(ctx context.Context, name string, args ...string) (*proc, error) {
	p, err := e.procs.start(ctx, "anchor-"+name, append([]string{"bench-anchor", name}, args...)...)
	if err != nil {
		return nil, err
	}
	if p.URL(name) == "" {
		return nil, fmt.Errorf("anchor %s printed no URL; its log %s ends:\n%s", name, p.logPath, p.tail())
	}
	return p, nil
}

// shopData returns a new folder holding the shop's four databases seeded
// with e.data. The first call seeds a template; later calls copy it.
func (e *env) shopData(ctx context.Context, name string) (string, error) {
	e.templateOnce.Do(func() {
		e.template = filepath.Join(e.work, "template")
		stop := e.p.track(fmt.Sprintf("seeding %s users, %d orders each", thousands(float64(e.data.Users)), e.data.OrdersPerUser), nil, "")
		e.templateErr = seedShop(ctx, e.template, e.data)
		stop()
	})
	if e.templateErr != nil {
		return "", e.templateErr
	}
	d, err := e.dir(name)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(e.template)
	if err != nil {
		return "", err
	}
	for _, ent := range entries {
		if err := copyFile(filepath.Join(e.template, ent.Name()), filepath.Join(d, ent.Name())); err != nil {
			return "", err
		}
	}
	// The copy is on disk before the services open it: otherwise the
	// kernel writes it back (hundreds of megabytes) some 30 s later, in the
	// middle of the rounds, and their fsyncs wait behind it.
	syncDisk()
	return d, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// side is one side of a comparison: run measures one round.
type side struct {
	what string
	// warm, if set, runs once before the first round, unmeasured.
	warm func(ctx context.Context) error
	run  func(ctx context.Context, round int) (Figures, error)
}

// alternate runs rounds of herald and anchor in turn, H A H A ..., into c,
// and computes c's medians, ratios and targets.
func (e *env) alternate(ctx context.Context, c *Comparison, herald, anchor side) error {
	c.Herald.What, c.Anchor.What = herald.what, anchor.what
	figs, err := e.rounds(ctx, herald, anchor)
	if err != nil {
		return err
	}
	c.Herald.Rounds = append(c.Herald.Rounds, figs[0]...)
	c.Anchor.Rounds = append(c.Anchor.Rounds, figs[1]...)
	c.finish()
	e.res.Comparisons = append(e.res.Comparisons, c)
	return nil
}

// versus is one comparison of a shared anchor (see alternateShared) and
// the Herald side measured for it.
type versus struct {
	c      *Comparison
	herald side
}

// alternateShared runs rounds of anchor and of each herald side of vs in
// turn, A H1 H2 A H1 H2 ..., and computes each comparison with the same
// anchor rounds: one baseline for several variants, each measured next
// to it.
func (e *env) alternateShared(ctx context.Context, anchor side, vs ...versus) error {
	sides := []side{anchor}
	for _, v := range vs {
		v.c.Herald.What, v.c.Anchor.What = v.herald.what, anchor.what
		sides = append(sides, v.herald)
	}
	figs, err := e.rounds(ctx, sides...)
	if err != nil {
		return err
	}
	for i, v := range vs {
		v.c.Anchor.Rounds = append(v.c.Anchor.Rounds, figs[0]...)
		v.c.Herald.Rounds = append(v.c.Herald.Rounds, figs[i+1]...)
		v.c.finish()
		e.res.Comparisons = append(e.res.Comparisons, v.c)
	}
	return nil
}

// rounds runs each side's warm-up, in order, then e.sz.Rounds rounds of
// the sides in turn (sides[0], sides[1], ..., sides[0], ...), and returns
// each side's figures by round: figs[i][r-1] is sides[i]'s round r.
func (e *env) rounds(ctx context.Context, sides ...side) ([][]Figures, error) {
	for _, s := range sides {
		if s.warm != nil {
			if err := s.warm(ctx); err != nil {
				return nil, fmt.Errorf("warm up %s: %w", s.what, err)
			}
		}
	}
	figs := make([][]Figures, len(sides))
	for r := 1; r <= e.sz.Rounds; r++ {
		for i, s := range sides {
			f, err := s.run(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("%s round %d: %w", s.what, r, err)
			}
			figs[i] = append(figs[i], f)
		}
	}
	return figs, nil
}

// loadRound runs l as one round called what, showing its progress.
func (e *env) loadRound(ctx context.Context, what string, l Load) LoadResult {
	var done atomic.Int64
	l.Done = &done
	stop := e.p.track(what, &done, "requests")
	res := l.Run(ctx)
	stop()
	return res
}

// profile fetches a CPU profile of seconds from the service at baseURL in
// the background, into profiles/<scenario>-<service>-r<round>.pprof; wait
// blocks until it is saved. Without pprof on the service (herald serve
// without --pprof) it warns once and fetches nothing more.
func (e *env) profile(baseURL, service string, round int, seconds int) (wait func()) {
	return e.fetchProfile(baseURL, "profile", service, fmt.Sprintf("r%d.pprof", round), seconds)
}

// trace fetches an execution trace of seconds from the service at baseURL
// in the background, as profile does, into
// profiles/<scenario>-<service>-r<round>.trace. A trace shows where
// goroutines wait, which a CPU profile does not: go tool trace
// -pprof=sync (or syscall, net) turns it into a profile of waiting.
func (e *env) trace(baseURL, service string, round int, seconds int) (wait func()) {
	return e.fetchProfile(baseURL, "trace", service, fmt.Sprintf("r%d.trace", round), seconds)
}

func (e *env) fetchProfile(baseURL, kind, service, suffix string, seconds int) (wait func()) {
	e.mu.Lock()
	off := e.noPprof
	e.mu.Unlock()
	if off || seconds < 1 {
		return func() {}
	}
	name := fmt.Sprintf("%s-%s-%s", e.scenario, service, suffix)
	path := filepath.Join(e.out, "profiles", name)
	done := make(chan struct{})
	e.fetches.Add(1)
	go func() {
		defer e.fetches.Done()
		defer close(done)
		client := &http.Client{Timeout: time.Duration(seconds+30) * time.Second}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", baseURL, kind, seconds), nil)
		resp, err := client.Do(bearer(req, e.adminToken()))
		if err != nil {
			e.p.Printf("  warning: CPU profile of %s: %v", service, err)
			return
		}
		defer drain(resp)
		if resp.StatusCode != http.StatusOK {
			e.mu.Lock()
			first := !e.noPprof
			e.noPprof = true
			e.mu.Unlock()
			if first {
				e.note("no CPU profiles: %s answers %s at /debug/pprof/%s (herald serve without --pprof / HERALD_PPROF)", service, resp.Status, kind)
			}
			return
		}
		f, err := os.Create(path)
		if err != nil {
			e.p.Printf("  warning: CPU profile of %s: %v", service, err)
			return
		}
		if _, err := io.Copy(f, resp.Body); err != nil {
			e.p.Printf("  warning: CPU profile of %s: %v", service, err)
		}
		f.Close()
		e.mu.Lock()
		e.res.Profiles = append(e.res.Profiles, filepath.Join("profiles", name))
		e.mu.Unlock()
	}()
	return func() { <-done }
}

// metric returns the value of the Prometheus sample named exactly name
// (with its labels, as /metrics writes them) at baseURL, read as the
// operator.
func (e *env) metric(ctx context.Context, baseURL, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(bearer(req, e.adminToken()))
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s/metrics: %s", baseURL, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s/metrics has no %s", baseURL, name)
}

// poll calls cond every interval until it reports done, returns an error,
// ctx ends or timeout passes.
func poll(ctx context.Context, timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := cond()
		if err == nil && done {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("%s: not after %s: %w", what, timeout, last)
			}
			return fmt.Errorf("%s: not after %s", what, timeout)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// getBody fetches url with token and returns its status and body.
func getBody(ctx context.Context, url, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(bearer(req, token))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// profileSeconds is how long a CPU profile of a round of d runs: a second
// less than the round, so it ends within it, and at least a second.
func profileSeconds(d time.Duration) int { return max(1, int(d.Seconds())-1) }

// compare fills c with herald's rounds against anchor's, both measured
// (by rounds) already, computes its medians, ratios and targets, and adds
// it to the scenario's result.
func (e *env) compare(c *Comparison, herald side, heraldRounds []Figures, anchor side, anchorRounds []Figures) {
	c.Herald.What, c.Anchor.What = herald.what, anchor.what
	c.Herald.Rounds = append(c.Herald.Rounds, heraldRounds...)
	c.Anchor.Rounds = append(c.Anchor.Rounds, anchorRounds...)
	c.finish()
	e.res.Comparisons = append(e.res.Comparisons, c)
}
