package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// probeCmd checks one address, for container health checks: an image
// without a shell, curl or wget runs `herald probe` instead.
type probeCmd struct {
	URL     string        `arg:"" help:"What to check: http(s)://host:port/path wants a 200 (a service's /readyz); nats://host:port wants JetStream to answer (in a cluster, once it has elected a leader)."`
	Timeout time.Duration `default:"3s" env:"HERALD_PROBE_TIMEOUT" help:"How long the check may take."`
}

// Probe checks c.URL and returns nil if it answers well, or an error that
// says what it found instead.
func (m *Main) Probe(ctx context.Context, c probeCmd) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	switch {
	case strings.HasPrefix(c.URL, "http://") || strings.HasPrefix(c.URL, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", c.URL, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("probe %s: %w", c.URL, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("probe %s: %s, want 200 OK", c.URL, resp.Status)
		}
		return nil
	case strings.HasPrefix(c.URL, "nats://"):
		nc, err := nats.Connect(c.URL, nats.Name("herald probe"), nats.Timeout(c.Timeout), nats.NoReconnect())
		if err != nil {
			return fmt.Errorf("probe %s: %w", c.URL, err)
		}
		defer nc.Close()
		js, err := natsjs.New(nc)
		if err != nil {
			return fmt.Errorf("probe %s: %w", c.URL, err)
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("probe %s: JetStream does not answer: %w", c.URL, err)
		}
		return nil
	}
	return fmt.Errorf("probe %q: want an http://, https:// or nats:// URL", c.URL)
}
