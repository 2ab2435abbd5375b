package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// attemptTimeout bounds one JetStream API request made while a service
// starts; the caller's context bounds all the attempts together.
const attemptTimeout = 2 * time.Second

// JetStream error codes of a cluster that cannot answer yet: no meta leader
// (JetStream system temporarily unavailable), or a server that cannot
// handle the request at the moment.
const (
	jsErrClusterNotAvailable = 10008
	jsErrClusterNotLeader    = 10009
)

// UntilAnswered runs the JetStream request do (a JetStream API call on a
// connection of the caller's, or several), each attempt with its own
// attemptTimeout, again and again (100ms, then doubling up to 1s apart)
// while it goes unanswered or the cluster says it cannot answer yet, until
// it gets an answer or ctx is done. A cluster that has just started, or has
// just lost a server, takes seconds to elect the leaders that answer; a
// request in that window can be dropped without a reply. It returns do's
// last error.
func UntilAnswered(ctx context.Context, do func(ctx context.Context) error) error {
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := do(actx)
		cancel()
		if err == nil || !unanswered(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// unanswered reports whether err means the request got no answer, or an
// answer that it cannot be served yet, rather than a refusal.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		isAPIError(err, jsErrClusterNotAvailable) || isAPIError(err, jsErrClusterNotLeader)
}
