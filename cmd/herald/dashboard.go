package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/dashboard"
)

// dashboardCmd serves the dashboard against services run elsewhere (herald
// serve), reading the bus as the admin and the services with the operator
// token.
type dashboardCmd struct {
	systemFlags
	Listen   string `name:"listen" default:"127.0.0.1:8080" env:"HERALD_DASHBOARD_ADDR" help:"Address of the dashboard."`
	AuthKeys string `name:"auth-keys" env:"HERALD_AUTH_KEYS" placeholder:"FILE" help:"The public keys (jwks.json) that verify the operator token of the dashboard's actions. Default: <data>/secrets/auth/jwks.json."`
}

// Dashboard serves the dashboard for the system at c.NATS until Close.
func (m *Main) Dashboard(ctx context.Context, c dashboardCmd) error {
	b, nc, err := c.dial("herald dashboard", m.Log)
	if err != nil {
		return err
	}
	m.nc = nc
	keys := c.AuthKeys
	if keys == "" {
		keys = filepath.Join(authSecrets(c.Data), auth.KeySetFile)
	}
	v, err := auth.NewVerifierFile(keys)
	if err != nil {
		return fmt.Errorf("--auth-keys %s: %w", keys, err)
	}
	cat := apps(serviceFlags{})
	m.stopTimeout = 10 * time.Second
	return m.serveDashboard(c.Listen, dashboard.Options{
		Catalogue: cat, Bus: b, Auth: v, Log: m.Log,
		Ask: func(ctx context.Context, name, path string, v any) error {
			return c.askService(ctx, cat, name, path, v)
		},
		URL: func(name string) string {
			if _, s, ok := cat.Lookup(name); ok {
				return c.serviceURL(s)
			}
			return ""
		},
	})
}

// upDashboard serves the dashboard of the services m runs on addr.
func (m *Main) upDashboard(addr string, f serviceFlags, admin *jetstream.Bus, v *auth.Verifier) error {
	cat := apps(f)
	sys := systemFlags{operatorFlags: operatorFlags{Data: f.Data, TokenFile: m.adminToken}}
	return m.serveDashboard(addr, dashboard.Options{
		Catalogue: cat, Bus: admin, Auth: v, Log: m.Log, Control: runningControl{m.running},
		Ask: func(ctx context.Context, name, path string, v any) error {
			s := m.Service(name)
			if s == nil || !m.running.Runs(name) {
				return fmt.Errorf("%s is not running", name)
			}
			return sys.ask(ctx, name, s.URL()+path, v)
		},
		URL: func(name string) string {
			if s := m.Service(name); s != nil {
				return s.URL()
			}
			if _, s, ok := cat.Lookup(name); ok {
				return "http://" + s.Addr
			}
			return ""
		},
	})
}

// serveDashboard starts the dashboard's own server on addr: nothing of it
// runs in the services' servers, so with no page open it costs them
// nothing.
func (m *Main) serveDashboard(addr string, o dashboard.Options) error {
	h, err := dashboard.New(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("dashboard cannot listen on %s: %w; change --dashboard-addr (HERALD_DASHBOARD_ADDR), or give it empty to run without", addr, unwrapOpErr(err))
	}
	m.dashboard = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: the live topology is one long answer (SSE).
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(m.Log.Handler(), slog.LevelWarn),
	}
	m.dashboardURL = "http://" + ln.Addr().String() + "/"
	go func() {
		if err := m.dashboard.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("dashboard stopped", "err", err)
		}
	}()
	return nil
}

func unwrapOpErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// runningControl lets the dashboard stop and start herald up's services.
type runningControl struct{ r *catalogue.Running }

func (c runningControl) Stop(ctx context.Context, name string) error {
	return c.r.StopService(ctx, name)
}
func (c runningControl) Start(ctx context.Context, name string) error {
	return c.r.StartService(ctx, name)
}
func (c runningControl) Running(name string) bool { return c.r.Runs(name) }
