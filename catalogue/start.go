package catalogue

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/service"
)

// Running is a set of services Start started, in start order.
type Running struct {
	Targets  []Target
	Services []*service.Service // Services[i] runs Targets[i]
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
		if err := s.Listen(); err != nil {
			return fail(err)
		}
	}
	for i, s := range r.Services {
		if err := s.Start(ctx, buses[i]); err != nil {
			return fail(err)
		}
	}
	return r, nil
}

// Service returns the running service called name, or nil.
func (r *Running) Service(name string) *service.Service {
	if r == nil {
		return nil
	}
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
	var errs []error
	for i := len(r.Services) - 1; i >= 0; i-- {
		errs = append(errs, r.Services[i].Stop(ctx))
	}
	return errors.Join(errs...)
}
