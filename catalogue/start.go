package catalogue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/service"
)

// Running is a set of services Start started, in start order. Its methods
// are safe for concurrent use.
type Running struct {
	Targets  []Target
	Services []*service.Service // Services[i] runs Targets[i]; stopped ones stay, stopped, until started again

	mu        sync.Mutex
	buses     []*jetstream.Bus // buses[i] is Services[i]'s
	stopped   []bool
	configure func(Target) service.Config
	models    map[string]*readModel // the read models' generations, by service
	bg        sync.WaitGroup        // old generations stopping, rebuilds at start
	cancel    context.CancelFunc    // of the rebuilds at start
}

// Start runs targets on b: it checks their apps (Catalogue.Check), creates or updates the stream of each app
// they belong to, builds every target with the Config configure gives it,
// binds every address before starting anything (so a port in use stops the
// start at once, naming the flag to change), then starts them in order.
// `herald up` and `herald serve` both run their services through it. On
// error it stops whatever it built or started.
func Start(ctx context.Context, b *jetstream.Bus, targets []Target, configure func(Target) service.Config) (*Running, error) {
	return StartAs(ctx, b, targets, configure, nil)
}

// StartAs is Start with each target on a bus of its own: busFor returns the
// bus connected as that service's own NATS identity (see Identities), which
// its consumers, relay and routes use; b, connected as the admin identity,
// only creates or updates the streams. A nil busFor runs every target on b.
func StartAs(ctx context.Context, b *jetstream.Bus, targets []Target, configure func(Target) service.Config, busFor func(Target) (*jetstream.Bus, error)) (*Running, error) {
	if busFor == nil {
		busFor = func(Target) (*jetstream.Bus, error) { return b, nil }
	}
	var apps Catalogue
	for _, t := range targets {
		if !slices.ContainsFunc(apps, func(a App) bool { return a.Name == t.App.Name }) {
			apps = append(apps, t.App)
		}
	}
	if err := apps.Check(); err != nil {
		return nil, fmt.Errorf("the catalogue is inconsistent: %w", err)
	}
	for _, a := range apps {
		if err := b.EnsureStream(ctx, a.Stream, a.Subjects); err != nil {
			return nil, err
		}
	}
	r := &Running{}
	fail := func(err error) (*Running, error) {
		return nil, errors.Join(err, r.Stop(context.WithoutCancel(ctx)))
	}
	var buses []*jetstream.Bus
	for _, t := range targets {
		sb, err := busFor(t)
		if err != nil {
			return fail(err)
		}
		if sb != b {
			// The service's own connection learns the stream's settings
			// (reading them is all its identity may do): without this its
			// relay never knows the stream takes atomic batches, and the
			// bus fsyncs every event on its own.
			if err := sb.EnsureStream(ctx, t.App.Stream, t.App.Subjects); err != nil {
				return fail(fmt.Errorf("%s: %w", t.Service.Name, err))
			}
		}
		s, err := Build(ctx, t.App, t.Service.Name, configure(t), Deps{Bus: sb})
		if err != nil {
			return fail(err)
		}
		r.Targets, r.Services, buses = append(r.Targets, t), append(r.Services, s), append(buses, sb)
		r.buses, r.stopped = buses, append(r.stopped, false)
		if err := s.Listen(); err != nil {
			return fail(err)
		}
	}
	r.configure = configure
	r.models = map[string]*readModel{}
	for i, s := range r.Services {
		if m := r.readModelOf(r.Targets[i], configure(r.Targets[i])); m != nil {
			if err := m.removeStale(); err != nil {
				return fail(fmt.Errorf("%s: %w", s.Name, err))
			}
			r.models[s.Name], s.Generations = m, m
		}
		if err := s.Start(ctx, buses[i]); err != nil {
			return fail(err)
		}
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	for _, m := range r.models {
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			m.rebuildIfChanged(bctx)
		}()
	}
	return r, nil
}

// StopService stops the running service called name, as Stop stops each
// (draining its requests and consumers, closing its database), and keeps
// its place so StartService can start it again; the rest run on. Stopping
// a stopped service does nothing.
func (r *Running) StopService(ctx context.Context, name string) error {
	if m := r.models[name]; m != nil {
		m.forgetPause() // a stopped service's consumers do not resume by themselves
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.index(name)
	if i < 0 {
		return fmt.Errorf("no service %q is running here", name)
	}
	if r.stopped[i] {
		return nil
	}
	r.stopped[i] = true
	return r.Services[i].Stop(ctx)
}

// StartService starts the stopped service called name again: built anew
// on its database, on the address it had, with its bus; its consumers
// resume where they stopped and catch up. Starting a running service does
// nothing.
func (r *Running) StartService(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.index(name)
	if i < 0 {
		return fmt.Errorf("no service %q is running here", name)
	}
	if !r.stopped[i] {
		return nil
	}
	t := r.Targets[i]
	cfg := r.configure(t)
	cfg.Addr = strings.TrimPrefix(r.Services[i].URL(), "http://") // a random port stays the same
	s, err := Build(ctx, t.App, t.Service.Name, cfg, Deps{Bus: r.buses[i]})
	if err != nil {
		return err
	}
	if m := r.models[name]; m != nil {
		s.Generations = m
	}
	if err := s.Start(ctx, r.buses[i]); err != nil {
		s.Stop(context.WithoutCancel(ctx))
		return err
	}
	r.Services[i], r.stopped[i] = s, false
	return nil
}

// Runs reports whether the service called name is running (not stopped by
// StopService).
func (r *Running) Runs(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.index(name)
	return i >= 0 && !r.stopped[i]
}

func (r *Running) index(name string) int {
	return slices.IndexFunc(r.Services, func(s *service.Service) bool { return s.Name == name })
}

// Service returns the running service called name, or nil.
func (r *Running) Service(name string) *service.Service {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.Services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Stop stops the services in reverse start order; each drains its requests
// and consumers and closes its database. It is safe to call more than once.
func (r *Running) Stop(ctx context.Context) error {
	if r == nil {
		return nil
	}
	if r.cancel != nil {
		r.cancel() // a rebuild at start stops where it is; it resumes at the next start
	}
	r.bg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for i := len(r.Services) - 1; i >= 0; i-- {
		errs = append(errs, r.Services[i].Stop(ctx)) // a stopped one's Stop does nothing
	}
	return errors.Join(errs...)
}
