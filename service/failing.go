package service

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldev/herald/bus"
)

// Failing is a consumer that failed its latest attempt at an event and has
// not handled one since: what GET /status shows instead of a warning in the
// log at every retry (a push subscriber that is down retries for 40
// minutes).
type Failing struct {
	// Since is when the consumer first failed after its last success, and
	// At when it failed last.
	Since time.Time `json:"since"`
	At    time.Time `json:"at"`
	// Attempt is the attempt at the event that failed last, of MaxDeliver;
	// at MaxDeliver the event went to the dead-letter queue.
	Attempt    int    `json:"attempt"`
	MaxDeliver int    `json:"maxDeliver"`
	Error      string `json:"error"`
	Subject    string `json:"subject"`
	Sequence   uint64 `json:"sequence"` // the event's stream position
	Event      string `json:"event,omitempty"`
	// Failures counts the failed attempts since the last success.
	Failures int `json:"failures"`
}

// maxFailingError bounds the error text kept per consumer.
const maxFailingError = 512

// failures keeps each consumer's Failing. Its zero value is ready; it is
// safe for concurrent use, and cheap on success: clear is one atomic load
// while no consumer fails.
type failures struct {
	n  atomic.Int32 // len(m)
	mu sync.Mutex
	m  map[string]Failing
}

// fail records that consumer c failed m with err, at now.
func (f *failures) fail(c bus.Consumer, m bus.Message, err error, now time.Time) {
	msg := err.Error()
	if len(msg) > maxFailingError {
		msg = msg[:maxFailingError] + "…"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]Failing{}
	}
	prev, ok := f.m[c.Name]
	if !ok {
		prev.Since = now
	}
	f.m[c.Name] = Failing{
		Since: prev.Since, At: now, Attempt: m.Attempt, MaxDeliver: c.WithDefaults().MaxDeliver, Error: msg,
		Subject: m.Subject, Sequence: m.Sequence, Event: m.ID, Failures: prev.Failures + 1,
	}
	f.n.Store(int32(len(f.m)))
}

// clear records that consumer name handled an event.
func (f *failures) clear(name string) {
	if f.n.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, name)
	f.n.Store(int32(len(f.m)))
}

// of returns consumer name's Failing, or nil if it is not failing.
func (f *failures) of(name string) *Failing {
	if f.n.Load() == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.m[name]; ok {
		return &v
	}
	return nil
}
