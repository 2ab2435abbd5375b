package main

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldev/herald/bus/jetstream"
)

// streamsCmd creates or updates the catalogue's streams, as the admin
// identity, for deployments whose services may not (each connects as its
// own identity, which only checks that its stream exists).
type streamsCmd struct {
	operatorFlags
	Replicas       int   `default:"0" env:"HERALD_REPLICAS" help:"Copies of each stream (see herald serve --help): 0 for automatic."`
	MaxStreamBytes int64 `default:"0" env:"HERALD_MAX_STREAM_BYTES" help:"Storage limit of each app's stream in bytes; 0 for none."`
}

// Streams creates or updates every app's stream and the dead-letter stream
// on the bus at c.NATS, then returns; it waits up to a minute for a
// cluster that is still electing its leader.
func (m *Main) Streams(ctx context.Context, c streamsCmd) error {
	opts, ok, err := c.options(c.Data, jetstream.AdminIdentity)
	if err != nil {
		return err
	}
	if !ok {
		m.Log.Warn("no admin credentials given: connecting anonymously (--nats-credentials DIR with admin.nk, or --nats-nkey)")
	}
	b, nc, err := jetstream.Dial(c.NATS, "herald streams", jetstream.Options{Replicas: c.Replicas, MaxBytes: c.MaxStreamBytes, Logger: m.Log}, opts...)
	if err != nil {
		return fmt.Errorf("%w%s", err, connectHint(err))
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		return err
	}
	for _, a := range apps(serviceFlags{}) {
		if err := b.EnsureStream(ctx, a.Stream, a.Subjects); err != nil {
			return err
		}
		fmt.Fprintf(m.Out, "stream %s (%s) and %s are ready\n", a.Stream, a.Subjects, jetstream.DLQStream)
	}
	return nil
}
