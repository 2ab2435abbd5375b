package catalogue

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// readModel switches the generations of one read model that Running runs
// (service.Generations): its rebuild pauses the consumers, and its switch
// builds the service again on the new generation, hands it the address and
// stops the old one. It is safe for concurrent use.
type readModel struct {
	r    *Running
	name string
	gens store.Generations
	log  *slog.Logger

	mu          sync.Mutex
	pausedUntil time.Time   // zero when not paused
	lease       *time.Timer // ends the pause
	rebuilding  *service.RebuildProgress
}

var _ service.Generations = (*readModel)(nil)

// readModelOf returns the generation control of t run with cfg, or nil if
// t is not a read model on SQLite.
func (r *Running) readModelOf(t Target, cfg service.Config) *readModel {
	if !t.Service.ReadModel {
		return nil
	}
	dsn := cfg.DSN(cfg.Name(t.App.Base(t.Service), true))
	if store.IsPostgresURL(dsn) {
		return nil
	}
	if abs, err := filepath.Abs(dsn); err == nil {
		dsn = abs
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &readModel{r: r, name: t.Service.Name, gens: store.GenerationsOf(dsn), log: log.With("service", t.Service.Name)}
}

// current returns the running service and its target, or a Conflict if
// it is stopped.
func (m *readModel) current() (*service.Service, Target, int, error) {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	i := m.r.index(m.name)
	if i < 0 || m.r.stopped[i] {
		return nil, Target{}, i, &service.Conflict{Msg: m.name + " is stopped"}
	}
	return m.r.Services[i], m.r.Targets[i], i, nil
}

// State implements service.Generations.
func (m *readModel) State(ctx context.Context) (service.GenerationState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state(ctx)
}

func (m *readModel) state(ctx context.Context) (service.GenerationState, error) {
	svc, t, _, err := m.current()
	if err != nil {
		return service.GenerationState{}, err
	}
	live, err := m.gens.Live()
	if err != nil {
		return service.GenerationState{}, err
	}
	p, err := store.ReadProgress(ctx, svc.DB)
	if err != nil {
		return service.GenerationState{}, err
	}
	st := service.GenerationState{
		Service: m.name, Generation: live, Path: m.gens.Path(live), First: m.gens.First,
		Projection: t.Service.ProjectionVersion(), Built: max(p.Projection, 1), Stream: t.App.Stream,
		Consumers: []string{}, Subjects: []string{},
	}
	for _, c := range svc.Consumers {
		st.Consumers = append(st.Consumers, c.Name)
		for _, s := range c.Subjects {
			if !slices.Contains(st.Subjects, s) {
				st.Subjects = append(st.Subjects, s)
			}
		}
	}
	if !m.pausedUntil.IsZero() {
		u := m.pausedUntil
		st.PausedUntil = &u
	}
	if m.rebuilding != nil {
		rp := *m.rebuilding
		st.Rebuilding = &rp
	}
	return st, nil
}

// Pause implements service.Generations.
func (m *readModel) Pause(ctx context.Context, lease time.Duration) (service.GenerationState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	svc, _, _, err := m.current()
	if err != nil {
		return service.GenerationState{}, err
	}
	if m.pausedUntil.IsZero() {
		if err := svc.PauseConsumers(ctx); err != nil {
			return service.GenerationState{}, fmt.Errorf("pause %s: %w", m.name, err)
		}
		m.log.Info("consumers paused for a rebuild", "lease", lease)
	}
	m.pausedUntil = time.Now().Add(lease)
	if m.lease != nil {
		m.lease.Stop()
	}
	m.lease = time.AfterFunc(lease, m.expire)
	return m.state(ctx)
}

// expire resumes the consumers when a pause's lease ends without a switch
// (the rebuild died, or gave up).
func (m *readModel) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pausedUntil.IsZero() || time.Now().Before(m.pausedUntil) {
		return // switched, resumed, or renewed meanwhile
	}
	m.log.Warn("a rebuild's pause ended without a switch: consuming again on the live generation")
	if err := m.resume(context.Background()); err != nil {
		m.log.Error("resume the consumers after a rebuild's pause", "err", err)
	}
}

// Resume implements service.Generations.
func (m *readModel) Resume(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resume(ctx)
}

func (m *readModel) resume(ctx context.Context) error {
	if m.pausedUntil.IsZero() {
		return nil
	}
	svc, _, _, err := m.current()
	if err != nil {
		return err
	}
	if m.lease != nil {
		m.lease.Stop()
		m.lease = nil
	}
	m.pausedUntil = time.Time{}
	return svc.ResumeConsumers(ctx)
}

// Switch implements service.Generations.
func (m *readModel) Switch(ctx context.Context, gen int) (service.GenerationState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A switch, once begun, is not the caller's to cancel: a rebuild killed
	// while it waits for the answer must not leave it half done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := m.switchTo(ctx, gen); err != nil {
		return service.GenerationState{}, err
	}
	return m.state(ctx)
}

func (m *readModel) switchTo(ctx context.Context, gen int) error {
	if m.pausedUntil.IsZero() {
		return &service.Conflict{Msg: fmt.Sprintf("%s's consumers are not paused: pause them (POST /generation/pause), catch generation %d up with the stream, then switch", m.name, gen)}
	}
	live, err := m.gens.Live()
	if err != nil {
		return err
	}
	if gen <= live || !m.gens.Exists(gen) {
		return &service.Conflict{Msg: fmt.Sprintf("%s cannot switch to generation %d: generation %d is live and %d %s", m.name, gen, live, gen, existence(m.gens.Exists(gen)))}
	}
	old, t, i, err := m.current()
	if err != nil {
		return err
	}
	cfg := m.r.configure(t)
	cfg.Generation = gen
	next, err := Build(ctx, t.App, t.Service.Name, cfg, Deps{Bus: m.r.buses[i]})
	if err != nil {
		return fmt.Errorf("switch %s to generation %d: %w", m.name, gen, err)
	}
	stopNext := func() { next.Stop(context.WithoutCancel(ctx)) }
	p, err := store.ReadProgress(ctx, next.DB)
	if err != nil {
		stopNext()
		return err
	}
	if !p.Complete {
		stopNext()
		return &service.Conflict{Msg: fmt.Sprintf("generation %d of %s is not complete: its rebuild applied %s up to %d; run the rebuild again", gen, m.name, p.Stream, p.Applied)}
	}
	// The point of no return: from here a restart opens the new generation,
	// which holds everything the paused consumers had applied.
	if err := m.gens.SetLive(gen); err != nil {
		stopNext()
		return err
	}
	next.Generations = m
	if err := old.HandOver(ctx, next, m.r.buses[i]); err != nil {
		stopNext()
		if berr := m.gens.SetLive(live); berr != nil {
			return fmt.Errorf("switch %s to generation %d: %w; and generation %d could not be made live again: %v", m.name, gen, err, live, berr)
		}
		return fmt.Errorf("switch %s to generation %d (generation %d stays live): %w", m.name, gen, live, err)
	}
	m.r.mu.Lock()
	m.r.Services[i] = next
	m.r.mu.Unlock()
	if m.lease != nil {
		m.lease.Stop()
		m.lease = nil
	}
	m.pausedUntil = time.Time{}
	m.log.Info("switched to a rebuilt generation", "generation", gen, "was", live)
	m.r.bg.Add(1)
	go func() {
		defer m.r.bg.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := old.Stop(sctx); err != nil {
			m.log.Warn("stop the old generation", "generation", live, "err", err)
		}
		if err := m.gens.Remove(live); err != nil {
			m.log.Warn("remove the old generation", "generation", live, "err", err)
		}
	}()
	return nil
}

func existence(ok bool) string {
	if ok {
		return "exists"
	}
	return "does not exist"
}

// removeStale removes the generations older than the live one that a
// crash after a switch left behind.
func (m *readModel) removeStale() error {
	live, err := m.gens.Live()
	if err != nil {
		return err
	}
	on, err := m.gens.OnDisk()
	if err != nil {
		return err
	}
	for _, n := range on {
		if n < live {
			if err := m.gens.Remove(n); err != nil {
				return err
			}
			m.log.Info("removed a generation a switch left behind", "generation", n)
		}
	}
	return nil
}

// forgetPause ends a pause without resuming anything: the service is
// being stopped, and its consumers start with it again.
func (m *readModel) forgetPause() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lease != nil {
		m.lease.Stop()
		m.lease = nil
	}
	m.pausedUntil = time.Time{}
}

// rebuildIfChanged rebuilds the read model in this process if its live
// generation was built by an older version of its projection: into the
// next generation, beside the live one, which serves meanwhile, switching
// once caught up (Drive). It logs its progress; an error leaves the live
// generation serving and the rebuild to resume at the next start.
func (m *readModel) rebuildIfChanged(ctx context.Context) {
	svc, t, i, err := m.current()
	if err != nil {
		return
	}
	p, err := store.ReadProgress(ctx, svc.DB)
	if err != nil {
		m.log.Error("read the read model's projection version", "err", err)
		return
	}
	built, want := max(p.Projection, 1), t.Service.ProjectionVersion()
	if built >= want {
		return
	}
	live, err := m.gens.Live()
	if err != nil {
		m.log.Error("rebuild", "err", err)
		return
	}
	target := live + 1
	rb := &Rebuild{App: t.App, Service: m.name, Config: m.r.configure(t), Bus: m.r.buses[i], Generation: target, Log: m.log}
	from, err := rb.Open(ctx)
	if err != nil && m.gens.Exists(target) {
		// Begun by another version of the projection: begin again.
		m.log.Warn("removing an unfinished generation another projection began", "generation", target, "err", err)
		if rerr := m.gens.Remove(target); rerr == nil {
			from, err = rb.Open(ctx)
		}
	}
	if err != nil {
		m.log.Error("rebuild after a projection change", "err", err)
		return
	}
	m.log.Info("the projection changed: rebuilding the read model from the stream; the live generation serves meanwhile",
		"from_version", built, "to_version", want, "generation", target, "live", live, "resume_after", from)
	started := time.Now()
	m.setRebuilding(&service.RebuildProgress{Generation: target, Applied: from, Started: started})
	defer m.setRebuilding(nil)
	lastLog := time.Now()
	consumers := make([]string, 0, len(svc.Consumers))
	for _, c := range svc.Consumers {
		consumers = append(consumers, c.Name)
	}
	_, err = Drive(ctx, rb, m, consumers, 2*time.Minute, func(applied, target uint64) {
		_, events, _ := rb.Applied()
		m.setRebuilding(&service.RebuildProgress{Generation: rb.Generation, Applied: applied, Target: target, Events: events, Started: started})
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			m.log.Info("rebuilding", "generation", rb.Generation, "applied", applied, "of", target,
				"events_per_sec", int(float64(events)/time.Since(started).Seconds()))
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			m.log.Info("rebuild interrupted; it resumes at the next start", "generation", target)
			return
		}
		m.log.Error("rebuild after a projection change failed; the live generation serves on", "err", err)
		return
	}
	_, events, failed := rb.Applied()
	m.log.Info("rebuilt after a projection change", "generation", target, "events", events, "left_out", failed, "took", time.Since(started).Round(time.Millisecond))
}

func (m *readModel) setRebuilding(p *service.RebuildProgress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rebuilding = p
}
