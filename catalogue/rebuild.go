package catalogue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/internal/failpoint"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// Rebuild builds a new generation of a read model from its stream, beside
// the live one, which goes on serving: the engine of herald rebuild, and
// of a read model that rebuilds itself at start because its projection
// changed (Running). It builds the read model's service on the new
// generation's database without starting it, replays the stream into it
// with an ordered consumer (no durable consumer, nothing acknowledged),
// and records after every batch how far it got, so that an interrupted
// rebuild resumes where it stopped.
//
// The switch itself is the live service's: pause its consumers, CatchUp to
// the stream's last position, Finish, then switch (service.Generations).
// A Rebuild is not safe for concurrent use.
type Rebuild struct {
	App     App
	Service string         // the read model's name
	Config  service.Config // how the read model runs; Generation is set by Open
	Bus     *jetstream.Bus
	// Generation is the generation to build (2 or more).
	Generation int
	// Batch is how many events one transaction applies; default 256.
	Batch int
	Log   *slog.Logger

	desc     Service
	svc      *service.Service
	progress store.Progress
	subjects []string
	events   int64
	failed   int64
}

// maxAttempts is how often a rebuild tries an event that fails before it
// leaves it out, as the live consumer, which dead-lettered it, did.
const maxAttempts = 3

// Open builds the read model on generation Generation's database: a new
// one, or the one an interrupted rebuild left, which it resumes. It returns
// the stream position the rebuild has applied up to (0 for a new one). A
// generation left by a rebuild of another projection version, or of
// another stream, is an error: remove it (store.Generations.Remove) and
// start again.
func (rb *Rebuild) Open(ctx context.Context) (uint64, error) {
	desc, ok := rb.App.Service(rb.Service)
	if !ok || !desc.ReadModel {
		return 0, fmt.Errorf("%s is not a read model of %s", rb.Service, rb.App.Name)
	}
	if rb.Generation < 2 {
		return 0, fmt.Errorf("rebuild %s: generation %d cannot be built (the first is the database itself)", rb.Service, rb.Generation)
	}
	if rb.Log == nil {
		rb.Log = slog.New(slog.DiscardHandler)
	}
	if rb.Batch <= 0 {
		rb.Batch = 256
	}
	cfg := rb.Config
	cfg.Generation = rb.Generation
	cfg.Logger = slog.New(slog.DiscardHandler) // the rebuild reports its own progress
	cfg.Tracing, cfg.Wrap = nil, nil
	svc, err := Build(ctx, rb.App, rb.Service, cfg, Deps{Bus: rb.Bus})
	if err != nil {
		return 0, fmt.Errorf("rebuild %s: %w", rb.Service, err)
	}
	p, err := store.ReadProgress(ctx, svc.DB)
	if err == nil {
		switch {
		case p.Projection != desc.ProjectionVersion():
			err = fmt.Errorf("generation %d was begun by projection version %d, this is version %d", rb.Generation, p.Projection, desc.ProjectionVersion())
		case p.Stream != "" && p.Stream != rb.App.Stream:
			err = fmt.Errorf("generation %d was built from stream %s, not %s", rb.Generation, p.Stream, rb.App.Stream)
		}
	}
	if err != nil {
		svc.Stop(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("rebuild %s: %w", rb.Service, err)
	}
	// A generation finished by a rebuild that did not get its switch is
	// behind what the live consumers applied since: catch it up again.
	p.Stream, p.Complete = rb.App.Stream, false
	rb.desc, rb.svc, rb.progress = desc, svc, p
	for _, c := range svc.Consumers {
		for _, subj := range c.Subjects {
			if !slices.Contains(rb.subjects, subj) {
				rb.subjects = append(rb.subjects, subj)
			}
		}
	}
	return p.Applied, nil
}

// Applied returns the stream position the rebuild has applied up to, and
// how many events it applied and left out (failed every attempt) in this
// run.
func (rb *Rebuild) Applied() (pos uint64, events, failed int64) {
	return rb.progress.Applied, rb.events, rb.failed
}

// Subjects returns the subjects the rebuild replays: its consumers'.
func (rb *Rebuild) Subjects() []string { return rb.subjects }

// CatchUp applies the stream's events after the position applied so far
// up to position to (0: the stream's last position now), calling progress
// (if set) after every batch with the position reached and to. It returns
// the position reached, to unless it fails.
func (rb *Rebuild) CatchUp(ctx context.Context, to uint64, progress func(applied, target uint64)) (uint64, error) {
	if rb.svc == nil {
		return 0, errors.New("rebuild: not open")
	}
	if to == 0 {
		last, err := rb.Bus.LastSeq(ctx, rb.App.Stream)
		if err != nil {
			return rb.progress.Applied, fmt.Errorf("rebuild %s: %w", rb.Service, err)
		}
		to = last
	}
	if to <= rb.progress.Applied {
		return rb.progress.Applied, nil
	}
	reached, err := rb.Bus.Replay(ctx, rb.App.Stream, rb.subjects, rb.progress.Applied+1, to, rb.Batch, func(ms []bus.Message) error {
		if err := rb.apply(ctx, ms); err != nil {
			return err
		}
		return rb.record(ctx, ms[len(ms)-1].Sequence, progress, to)
	})
	if err == nil && reached > rb.progress.Applied {
		err = rb.record(ctx, reached, progress, to) // a filtered stretch with nothing to apply
	}
	if err != nil {
		return rb.progress.Applied, fmt.Errorf("rebuild %s: %w", rb.Service, err)
	}
	return rb.progress.Applied, nil
}

// record notes that the rebuild has applied up to pos.
func (rb *Rebuild) record(ctx context.Context, pos uint64, progress func(applied, target uint64), to uint64) error {
	p := rb.progress
	p.Applied = pos
	if err := store.WriteProgress(ctx, rb.svc.DB, p); err != nil {
		return err
	}
	rb.progress = p
	if progress != nil {
		progress(pos, to)
	}
	return nil
}

// apply folds ms into the generation, through each consumer that takes
// them: a batch at a time, and one by one if a batch fails.
func (rb *Rebuild) apply(ctx context.Context, ms []bus.Message) error {
	for _, c := range rb.svc.Consumers {
		mine := make([]bus.Message, 0, len(ms))
		for _, m := range ms {
			if slices.ContainsFunc(c.Subjects, func(p string) bool { return SubjectMatches(p, m.Subject) }) {
				mine = append(mine, m)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if c.Batch != nil && c.Batch(ctx, mine) == nil {
			rb.events += int64(len(mine))
			continue
		}
		for _, m := range mine {
			var err error
			for attempt := 1; attempt <= maxAttempts; attempt++ {
				m.Attempt = attempt
				if err = c.Handler(ctx, m); err == nil || ctx.Err() != nil {
					break
				}
			}
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				rb.failed++
				rb.Log.Warn("rebuild: an event failed every attempt; left out, as the live consumer dead-lettered it",
					"consumer", c.Name, "seq", m.Sequence, "event", m.ID, "err", err)
			default:
				rb.events++
			}
		}
	}
	return nil
}

// Finish marks the generation complete up to the position it has applied
// and records that consumers (the live read model's durable consumers)
// feed it, so that they continue on it where they stopped; then it closes
// the generation. Call it once CatchUp has reached the stream's last
// position with the live consumers paused.
func (rb *Rebuild) Finish(ctx context.Context, consumers []string) error {
	if rb.svc == nil {
		return errors.New("rebuild: not open")
	}
	for _, name := range consumers {
		if err := store.RecordConsumer(ctx, rb.svc.DB, name); err != nil {
			return fmt.Errorf("rebuild %s: %w", rb.Service, err)
		}
	}
	p := rb.progress
	p.Complete = true
	if err := store.WriteProgress(ctx, rb.svc.DB, p); err != nil {
		return fmt.Errorf("rebuild %s: %w", rb.Service, err)
	}
	rb.progress = p
	return rb.Close(ctx)
}

// Close closes the generation's database; an unfinished rebuild resumes
// from what it recorded.
func (rb *Rebuild) Close(ctx context.Context) error {
	if rb.svc == nil {
		return nil
	}
	svc := rb.svc
	rb.svc = nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return svc.Stop(ctx)
}

// pauseWhenBehind is how far behind the stream's last position a rebuild
// may be when it pauses the live consumers for its last stretch.
const pauseWhenBehind = 1000

// Drive takes rb, opened, through to the switch with g, the live read
// model's generations: it catches up with the stream (again and again
// while writes go on, until it is fewer than pauseWhenBehind events
// behind), pauses the live consumers for lease, catches up to the
// stream's last position, finishes the generation (recording consumers)
// and switches to it. progress, if set, is called after every batch. On
// any error the generation is closed, resumable, and the pause (if any)
// ended; the live generation serves throughout.
func Drive(ctx context.Context, rb *Rebuild, g service.Generations, consumers []string, lease time.Duration, progress func(applied, target uint64)) (service.GenerationState, error) {
	fail := func(err error) (service.GenerationState, error) {
		cerr := rb.Close(ctx)
		return service.GenerationState{}, errors.Join(err, cerr)
	}
	for round := 0; ; round++ {
		reached, err := rb.CatchUp(ctx, 0, progress)
		if err != nil {
			return fail(err)
		}
		last, err := rb.Bus.LastSeq(ctx, rb.App.Stream)
		if err != nil {
			return fail(fmt.Errorf("rebuild %s: %w", rb.Service, err))
		}
		if last < reached+pauseWhenBehind || round >= 20 {
			break
		}
	}
	if _, err := g.Pause(ctx, lease); err != nil {
		return fail(fmt.Errorf("rebuild %s: pause the live consumers: %w", rb.Service, err))
	}
	failpoint.Inject(failpoint.RebuildAfterPause)
	resume := func(err error) (service.GenerationState, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := g.Resume(rctx); rerr != nil {
			err = errors.Join(err, fmt.Errorf("resume the live consumers (they resume by themselves when the pause ends): %w", rerr))
		}
		return fail(err)
	}
	// Paused, the live consumers apply nothing more: everything they
	// applied is at or before the stream's last position now.
	if _, err := rb.CatchUp(ctx, 0, progress); err != nil {
		return resume(err)
	}
	if err := rb.Finish(ctx, consumers); err != nil {
		return resume(err)
	}
	st, err := g.Switch(ctx, rb.Generation)
	if err != nil {
		return resume(fmt.Errorf("rebuild %s: switch to generation %d: %w", rb.Service, rb.Generation, err))
	}
	return st, nil
}
