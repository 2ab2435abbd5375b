package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// serveLive streams the topology as server-sent events, one
// "event: topology" every Options.Every, while the client stays connected.
func (h *handler) serveLive(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// A stream outlives the server's timeouts: past its ReadTimeout the
	// server would cancel the request, past its WriteTimeout fail writes.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return // the writer cannot stream
	}
	updates, leave := h.hub.join()
	defer leave()
	for {
		select {
		case <-r.Context().Done():
			return
		case data := <-updates:
			if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", data); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// hub takes one topology snapshot every period while at least one live
// client is connected, and hands it to each of them; with no client it
// takes none. It is safe for concurrent use.
type hub struct {
	every time.Duration
	take  func(context.Context) []byte

	mu      sync.Mutex
	clients map[chan []byte]struct{}
	stop    context.CancelFunc // of the polling loop; nil when none runs
	last    []byte             // the latest snapshot, for a client that joins
	polls   int                // snapshots taken, for tests
}

func newHub(every time.Duration, take func(context.Context) []byte) *hub {
	return &hub{every: every, take: take, clients: map[chan []byte]struct{}{}}
}

// join adds a client and returns the channel its snapshots arrive on, and
// the function that removes it. The first client starts the polling; the
// last to leave stops it. A client that is slow to read gets only the
// latest snapshot.
func (h *hub) join() (<-chan []byte, func()) {
	c := make(chan []byte, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	if h.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.stop, h.last = cancel, nil
		go h.poll(ctx)
	} else if h.last != nil {
		c <- h.last
	}
	return c, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.clients, c)
		if len(h.clients) == 0 && h.stop != nil {
			h.stop()
			h.stop = nil
		}
	}
}

// poll takes a snapshot at once and then every period until ctx is done.
func (h *hub) poll(ctx context.Context) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		data := h.take(ctx)
		if ctx.Err() != nil {
			return
		}
		h.send(ctx, data)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// send hands data to every client, replacing a snapshot it has not read.
func (h *hub) send(ctx context.Context, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ctx.Err() != nil {
		return // this loop was stopped; a newer one may run
	}
	h.last = data
	h.polls++
	for c := range h.clients {
		select {
		case <-c:
		default:
		}
		c <- data
	}
}

// running reports whether the hub polls, and how many snapshots it took.
func (h *hub) running() (bool, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stop != nil, h.polls
}
