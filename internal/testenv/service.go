package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/service"
)

// Service is a service a test started.
type Service struct {
	*service.Service
	t testing.TB
}

// StartService starts s on b within ctx, failing the test if it does not
// start. s is stopped when the test ends unless the test stopped it first;
// that stop's error is ignored.
func StartService(ctx context.Context, t testing.TB, s *service.Service, b bus.Bus) *Service {
	t.Helper()
	if err := s.Start(ctx, b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return &Service{Service: s, t: t}
}

// MustStop stops the service, giving it 30 seconds, and fails the test if
// the stop returns an error.
func (s *Service) MustStop() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		s.t.Fatal(err)
	}
}
