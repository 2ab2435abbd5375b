package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// rebuildCmd rebuilds a running read model blue/green.
type rebuildCmd struct {
	systemFlags
	ReadModel string        `arg:"" name:"read-model" help:"The read model to rebuild: query, blog-query, or any service the catalogue marks as a read model (herald catalogue)."`
	DryRun    bool          `name:"dry-run" env:"HERALD_REBUILD_DRY_RUN" help:"Count the events a rebuild would apply, measure how fast this machine applies them on a short sample, estimate how long it takes, and change nothing."`
	Restart   bool          `name:"restart" env:"HERALD_REBUILD_RESTART" help:"Throw away what an interrupted rebuild built and begin again from the stream's first event."`
	Lease     time.Duration `name:"lease" default:"1m" env:"HERALD_REBUILD_LEASE" help:"How long the live consumers may stay paused while the rebuild applies its last events; if the rebuild dies, they resume by themselves after it."`
	Batch     int           `name:"batch" default:"256" env:"HERALD_REBUILD_BATCH" help:"Events applied per transaction."`
	Nice      int           `name:"nice" default:"10" env:"HERALD_REBUILD_NICE" help:"Nice value the rebuild runs at (Linux), so that the services answering requests on this machine keep the CPU they need; 0 runs it at normal priority."`
	Sample    time.Duration `name:"sample" default:"2s" hidden:"" env:"HERALD_REBUILD_SAMPLE" help:"How long --dry-run measures."`
}

// Rebuild rebuilds the read model c names, on the running system, into a
// new generation of its database beside the live one: the live one serves
// every read meanwhile; once the new one has caught up, reads switch to it
// at once and the old one is removed. Interrupted, it resumes where it
// stopped the next time it runs.
func (m *Main) Rebuild(ctx context.Context, c rebuildCmd) error {
	errOut := m.errOut()
	if err := lowerPriority(c.Nice); err != nil {
		m.Log.Warn("rebuild runs at normal priority", "err", err)
	}
	cat := apps(serviceFlags{})
	app, desc, ok := cat.Lookup(c.ReadModel)
	if !ok || !desc.ReadModel {
		return fmt.Errorf("%q is not a read model; the read models are %s", c.ReadModel, strings.Join(readModels(cat), ", "))
	}
	live := &generationsClient{f: c.systemFlags, name: desc.Name, url: c.serviceURL(desc)}
	st, err := live.State(ctx)
	if err != nil {
		return fmt.Errorf("ask %s for its read model: %w (is it running? herald up, or herald serve %s; --addr %s=HOST:PORT if it listens elsewhere)", desc.Name, err, desc.Name, desc.Name)
	}
	if _, err := os.Stat(st.Path); err != nil {
		return fmt.Errorf("herald rebuild builds the new generation beside the live one, so it must run on the machine that holds %s's read model (%s): %w", desc.Name, st.Path, err)
	}
	if st.Rebuilding != nil {
		return fmt.Errorf("%s is rebuilding itself already (its projection changed at start): generation %d, applied up to %d of %d", desc.Name, st.Rebuilding.Generation, st.Rebuilding.Applied, st.Rebuilding.Target)
	}
	b, nc, err := c.dial("herald rebuild", m.Log)
	if err != nil {
		return err
	}
	defer nc.Close()
	gens := store.GenerationsOf(st.First)
	target := st.Generation + 1
	if c.Restart && gens.Exists(target) {
		if err := gens.Remove(target); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "removed the unfinished generation %d\n", target)
	}
	cfg := service.Config{DB: st.First, Logger: m.Log}
	rb := &catalogue.Rebuild{App: app, Service: desc.Name, Config: cfg, Bus: b, Generation: target, Batch: c.Batch, Log: m.Log}
	if c.DryRun {
		return m.rebuildDryRun(ctx, c, st, rb)
	}
	from, err := rb.Open(ctx)
	if err != nil {
		if gens.Exists(target) {
			return fmt.Errorf("%w; run with --restart to begin generation %d again", err, target)
		}
		return err
	}
	total, err := b.Count(ctx, st.Stream, rb.Subjects(), from+1)
	if err != nil {
		rb.Close(ctx)
		return err
	}
	if from > 0 {
		fmt.Fprintf(errOut, "resuming generation %d of %s after %s #%d\n", target, desc.Name, st.Stream, from)
	}
	fmt.Fprintf(errOut, "rebuilding %s into generation %d (%s) from %s: %d events; generation %d serves meanwhile\n",
		desc.Name, target, gens.Path(target), st.Stream, total, st.Generation)
	bar := newProgressBar(errOut, "events")
	started := time.Now()
	done, err := catalogue.Drive(ctx, rb, live, st.Consumers, c.Lease, func(applied, to uint64) {
		_, events, _ := rb.Applied()
		bar.update(events, max(total, uint64(events)))
	})
	bar.finish()
	pos, events, failed := rb.Applied()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %s #%d; generation %d serves on; run herald rebuild %s again to resume", st.Stream, pos, st.Generation, desc.Name)
		}
		return fmt.Errorf("%w; generation %d serves on; run herald rebuild %s again to resume after #%d", err, st.Generation, desc.Name, pos)
	}
	took := time.Since(started)
	fmt.Fprintf(m.Out, "%s now reads generation %d: %d events applied in %s (%.0f/s)", desc.Name, done.Generation, events, took.Round(time.Millisecond), float64(events)/took.Seconds())
	if failed > 0 {
		fmt.Fprintf(m.Out, ", %d left out (they failed every attempt, as they did for the live consumer: herald dlq list)", failed)
	}
	fmt.Fprintf(m.Out, "; generation %d is removed\n", st.Generation)
	return nil
}

// rebuildDryRun reports what a rebuild would do, measuring the apply rate
// on a short sample into a scratch database it removes.
func (m *Main) rebuildDryRun(ctx context.Context, c rebuildCmd, st service.GenerationState, rb *catalogue.Rebuild) error {
	gens := store.GenerationsOf(st.First)
	count, err := rb.Bus.Count(ctx, st.Stream, st.Subjects, 1)
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(filepath.Dir(st.First), ".herald-rebuild-sample-")
	if err != nil {
		return fmt.Errorf("dry run: a scratch folder beside the read model: %w", err)
	}
	defer os.RemoveAll(scratch)
	sample := *rb
	sample.Config.DB = filepath.Join(scratch, "sample.db")
	sample.Generation = 2
	sample.Log = slog.New(slog.DiscardHandler)
	if _, err := sample.Open(ctx); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, c.Sample)
	started := time.Now()
	_, err = sample.CatchUp(sctx, 0, nil)
	took := time.Since(started)
	cancel()
	sample.Close(ctx)
	if err != nil && sctx.Err() == nil {
		return fmt.Errorf("dry run: sample: %w", err)
	}
	_, applied, _ := sample.Applied()
	out := m.Out
	fmt.Fprintf(out, "%s: generation %d is live (%s), built by projection version %d; this code runs version %d\n",
		st.Service, st.Generation, st.Path, st.Built, st.Projection)
	fmt.Fprintf(out, "a rebuild would build generation %d (%s) from %s: %d events on %s\n",
		st.Generation+1, gens.Path(st.Generation+1), st.Stream, count, strings.Join(st.Subjects, " "))
	if applied > 0 {
		rate := float64(applied) / took.Seconds()
		est := time.Duration(float64(count) / rate * float64(time.Second))
		if est < 10*time.Second {
			est = est.Round(100 * time.Millisecond)
		} else {
			est = est.Round(time.Second)
		}
		fmt.Fprintf(out, "measured on a %s sample (%d events): %.0f events/s here, so about %s\n",
			took.Round(100*time.Millisecond), applied, rate, est)
	} else {
		fmt.Fprintln(out, "the sample applied no event (an empty stream): a rebuild takes a moment")
	}
	if gens.Exists(st.Generation + 1) {
		fmt.Fprintf(out, "an interrupted rebuild left generation %d: a rebuild resumes it (--restart begins again)\n", st.Generation+1)
	}
	if fi, err := os.Stat(st.Path); err == nil {
		fmt.Fprintf(out, "the live generation takes %.1f MB; the new one needs about as much while both exist\n", float64(fi.Size())/1e6)
	}
	fmt.Fprintln(out, "nothing was changed")
	return nil
}

func readModels(cat catalogue.Catalogue) []string {
	var out []string
	for _, a := range cat {
		for _, s := range a.Services {
			if s.ReadModel {
				out = append(out, s.Name)
			}
		}
	}
	return out
}

// errOut is where progress goes: standard error.
func (m *Main) errOut() io.Writer {
	if m.Err != nil {
		return m.Err
	}
	return os.Stderr
}

// generationsClient is a running read model's service.Generations, over
// its HTTP operator routes.
type generationsClient struct {
	f    systemFlags
	name string
	url  string
}

var _ service.Generations = (*generationsClient)(nil)

func (g *generationsClient) State(ctx context.Context) (service.GenerationState, error) {
	return g.call(ctx, http.MethodGet, "/generation", nil)
}

func (g *generationsClient) Pause(ctx context.Context, lease time.Duration) (service.GenerationState, error) {
	return g.call(ctx, http.MethodPost, "/generation/pause", map[string]string{"lease": lease.String()})
}

func (g *generationsClient) Resume(ctx context.Context) error {
	_, err := g.call(ctx, http.MethodPost, "/generation/resume", map[string]string{})
	return err
}

func (g *generationsClient) Switch(ctx context.Context, gen int) (service.GenerationState, error) {
	return g.call(ctx, http.MethodPost, "/generation/switch", map[string]int{"generation": gen})
}

func (g *generationsClient) call(ctx context.Context, method, path string, body any) (service.GenerationState, error) {
	var st service.GenerationState
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return st, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, r)
	if err != nil {
		return st, err
	}
	tok, err := g.f.token()
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return st, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
		}
		if json.Unmarshal(b, &p) == nil && p.Detail != "" {
			return st, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, p.Detail)
		}
		return st, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return st, nil
}
