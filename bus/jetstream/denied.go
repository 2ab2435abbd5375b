package jetstream

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
)

// ErrDenied is wrapped by the errors of requests the server refused
// because the connection's identity may not make them (see Identity).
var ErrDenied = errors.New("the bus refused this identity")

// denials records the permission violations the server reports on one
// connection. NATS reports them asynchronously, and leaves the refused
// request without an answer, so without this a refused request would look
// like a server that is slow to answer, and be retried until its deadline.
type denials struct {
	mu   sync.Mutex
	last error
	ch   chan struct{} // closed, and replaced, at each violation
}

func newDenials(nc *nats.Conn) *denials {
	d := &denials{ch: make(chan struct{})}
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			d.record(err)
		}
		if prev != nil {
			prev(c, s, err)
		}
	})
	return d
}

func (d *denials) record(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = err
	close(d.ch)
	d.ch = make(chan struct{})
}

func (d *denials) next() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *denials) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// guard runs do with a context cancelled as soon as the server refuses a
// request of this connection, and then returns the refusal (wrapping
// ErrDenied and the server's words, which name the subject) instead of
// do's timeout. Refusals are never expected of a correctly configured
// service; one means its permissions are older than its catalogue, or
// that it is doing what it must not.
func (b *Bus) guard(ctx context.Context, do func(ctx context.Context) error) error {
	if b.denied == nil {
		return do(ctx)
	}
	refused := b.denied.next()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-refused:
			cancel(ErrDenied)
		case <-ctx.Done():
		}
	}()
	err := do(ctx)
	if err != nil && errors.Is(context.Cause(ctx), ErrDenied) {
		return fmt.Errorf("%w: %w (regenerate the permissions with herald nats-config if the catalogue changed)", ErrDenied, b.denied.err())
	}
	return err
}
