package dlq

import (
	"context"
	"fmt"

	"golang.org/x/time/rate"

	"github.com/heraldev/herald/bus/jetstream"
)

// DefaultRate is how many redrives a second Run does unless told
// otherwise: enough to empty a DLQ of thousands in minutes, few enough
// that a consumer that fails them all again, and the services it calls,
// are not flooded.
const DefaultRate = 50

// RunOptions change how Run redrives.
type RunOptions struct {
	// Rate is the most redrives a second; 0 means DefaultRate. The first
	// is not delayed; each next one waits its turn (a burst of one).
	Rate float64
	// By names who redrives, recorded on each redrive message (see
	// jetstream.RedriveOptions.By).
	By string
	// Transform, if set, republishes each event through it (an upcaster,
	// say); see jetstream.RedriveOptions.Transform.
	Transform func(data []byte) ([]byte, error)
	// Done, if set, is called after each redrive with its result, in
	// order, from Run's goroutine: to print progress as it goes.
	Done func(Result)
}

// Result is one redrive Run attempted.
type Result struct {
	Decision
	// Position is the redrive message's position in the consumer's stream.
	Position uint64 `json:"position,omitempty"`
	// Error is why the redrive failed; the dead letter is then still there.
	Error string `json:"error,omitempty"`
}

// Run redrives the dead letters p decided to redrive (Action Redrive), in
// p's order, at most o.Rate a second, and returns a result for each one
// it attempted. A failed redrive is recorded in its result and Run goes on
// with the next. It returns an error, with the results so far, if o.Rate
// is negative or ctx ends before it is done.
func (r Redriver) Run(ctx context.Context, p Plan, o RunOptions) ([]Result, error) {
	if o.Rate < 0 {
		return nil, fmt.Errorf("rate %g: give how many redrives a second, more than 0", o.Rate)
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	lim := rate.NewLimiter(rate.Limit(o.Rate), 1)
	out := []Result{}
	for _, d := range p.Decisions {
		if d.Action != Redrive {
			continue
		}
		if err := lim.Wait(ctx); err != nil {
			return out, fmt.Errorf("redrive stopped before %d: %w", d.Seq, err)
		}
		res := Result{Decision: d}
		pos, err := r.Bus.RedriveWith(ctx, d.Seq, jetstream.RedriveOptions{By: o.By, Transform: o.Transform})
		if err != nil {
			res.Error = err.Error()
		}
		res.Position = pos
		out = append(out, res)
		if o.Done != nil {
			o.Done(res)
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("redrive stopped after %d: %w", d.Seq, ctx.Err())
		}
	}
	return out, nil
}
