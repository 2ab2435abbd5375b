package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// MinServerVersion is the oldest NATS server Herald works with: consumers
// with several filter subjects need 2.10.
const MinServerVersion = "2.10.0"

// Check verifies that the connected server is new enough and has JetStream
// enabled for this account, with errors that say what to do.
func (b *Bus) Check(ctx context.Context) error {
	v := b.nc.ConnectedServerVersion()
	if !versionAtLeast(v, MinServerVersion) {
		return fmt.Errorf("the NATS server at %s is version %s; Herald needs %s or newer", b.nc.ConnectedUrlRedacted(), v, MinServerVersion)
	}
	// A cluster that has just started answers once it has a meta leader.
	err := b.guard(ctx, func(ctx context.Context) error {
		return UntilAnswered(ctx, func(ctx context.Context) error {
			_, err := b.js.AccountInfo(ctx)
			return err
		})
	})
	if err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return fmt.Errorf("JetStream is not enabled on the NATS server at %s: start it with -js", b.nc.ConnectedUrlRedacted())
		}
		return fmt.Errorf("check jetstream at %s: %w", b.nc.ConnectedUrlRedacted(), err)
	}
	return nil
}

// versionAtLeast reports whether version v (such as "2.10.4" or
// "2.11.0-beta.1") is at least min, comparing major, minor and patch.
func versionAtLeast(v, min string) bool {
	parse := func(s string) [3]int {
		var out [3]int
		s, _, _ = strings.Cut(strings.TrimPrefix(s, "v"), "-")
		for i, part := range strings.SplitN(s, ".", 3) {
			out[i], _ = strconv.Atoi(part)
		}
		return out
	}
	a, b := parse(v), parse(min)
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return true
}
