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
	for _, t := range targets {
		s, err := Build(ctx, t.App, t.Service.Name, configure(t), Deps{Bus: b})
		if err != nil {
			return fail(err)
		}
		r.Targets, r.Services = append(r.Targets, t), append(r.Services, s)
		if err := s.Listen(); err != nil {
			return fail(err)
		}
	}
	for _, s := range r.Services {
		if err := s.Start(ctx, b); err != nil {
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
