package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldev/herald/bus"
)

// front is a service's HTTP face: its listener, its server, and the
// handler the server calls. A handover (HandOver) gives the front to
// another Service, built on a new generation of the same read model, by
// swapping that handler: no connection is closed and no request refused.
type front struct {
	ln      net.Listener
	srv     *http.Server
	current atomic.Pointer[gate]
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.current.Load().ServeHTTP(w, r) }

// gate is one Service's handler in a front. It holds each request it
// serves, so that the Service's Stop can wait for them before closing the
// database; a request that reaches it after it closed (one that picked the
// handler just before a handover) is served by the front's handler of now.
type gate struct {
	mu     sync.RWMutex
	closed bool
	h      http.Handler
	f      *front
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		if next := g.f.current.Load(); next != g {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	defer g.mu.RUnlock()
	g.h.ServeHTTP(w, r)
}

// close waits for the requests the gate holds and refuses it any more.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// serve makes h the service's handler: in a new front on s.ln, or, for a
// service given a front by HandOver, in that one.
func (s *Service) serve(h http.Handler) {
	if s.front == nil {
		s.front = &front{ln: s.ln}
		s.front.srv = &http.Server{
			Handler:           s.front,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    1 << 20, // above Limits.MaxHeader, so that its problem+json answers first
			ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
		}
		f := s.front
		f.current.Store(&gate{h: h, f: f})
		go func() {
			if err := f.srv.Serve(f.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.Log.Error("http server stopped", "err", err)
			}
		}()
		s.gate = f.current.Load()
		return
	}
	s.gate = &gate{h: h, f: s.front}
	s.front.current.Store(s.gate)
}

// closeListener closes the listener after a failed Start, unless the
// service was given it by a handover: the service that gave it still
// serves on it.
func (s *Service) closeListener() {
	if s.front == nil && s.ln != nil {
		s.ln.Close()
	}
}

// HandOver makes next, a service built but not started (a new generation
// of s's read model), take over s's address: it starts next on b with s's
// listener and server, and swaps s's handler for next's, so that requests
// go on without a refused connection. Afterwards s no longer serves HTTP;
// stop it (its Stop waits for the requests it still holds, then closes its
// database). If next fails to start, s serves on as before and the error
// is returned.
func (s *Service) HandOver(ctx context.Context, next *Service, b bus.Bus) error {
	if s.front == nil {
		return fmt.Errorf("%s: hand over: not serving", s.Name)
	}
	if next.ln != nil || next.front != nil {
		return fmt.Errorf("%s: hand over: the next service already listens", s.Name)
	}
	next.ln, next.front = s.ln, s.front
	if err := next.Start(ctx, b); err != nil {
		next.ln, next.front = nil, nil
		return err
	}
	s.handedOver.Store(true)
	return nil
}
