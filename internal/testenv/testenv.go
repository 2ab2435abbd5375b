// Package testenv is what the shop, blog and gateway tests share: an
// embedded NATS JetStream server with a bus, a polling helper, JSON request
// helpers, the OpenAPI golden-file check and a log buffer. Only tests import
// it; nothing in a herald binary does.
//
// Every helper that takes a testing.TB fails the test through it (t.Fatal)
// instead of returning an error, so it must be called from the test's own
// goroutine.
package testenv

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Eventually polls f until it returns nil, failing the test with f's last
// error once timeout has passed. The wait between calls starts at 5ms and
// doubles up to 100ms; it is a polling interval, never a stand-in for
// synchronisation.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 100*time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that a logger and a test can share: it is
// safe for concurrent use. The zero value is empty and ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
