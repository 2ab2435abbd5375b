package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
)

// clusterReplicas is how many copies automatic mode keeps of a stream in a
// cluster: a majority survives the loss of any one server.
const clusterReplicas = 3

// maxReplicas is the most replicas JetStream allows a stream.
const maxReplicas = 5

// JetStream error codes of a server that cannot place the replicas asked
// for: not clustered, no (or too few) suitable peers, not enough resources,
// or no account limits for that replica tier.
const (
	jsErrNoPeers               = 10005
	jsErrInsufficientResources = 10023
	jsErrReplicasNotSupported  = 10074
	jsErrNoLimits              = 10120
)

// replicaPlan returns the replica counts to offer, in turn, a stream that
// has existing replicas now (0 if it does not exist yet): the first one the
// server accepts is kept, and a later one is tried only if the server
// cannot place the one before it. explicit > 0 is an operator's decision
// and the only offer, even below existing. Automatic mode (explicit 0)
// offers the larger of existing and clusterReplicas, then the larger of
// existing and 1: it never offers fewer than the stream has.
func replicaPlan(explicit, existing int) []int {
	if explicit > 0 {
		return []int{explicit}
	}
	best, fallback := max(existing, clusterReplicas), max(existing, 1)
	if best == fallback {
		return []int{best}
	}
	return []int{best, fallback}
}

// ensure creates the stream cfg, or updates it to cfg, with the replica
// count chosen by replicaPlan, and logs the choice and why. A missing stream
// is created with CreateStream (several services starting at once may race
// to create it: the losers update it instead); an existing one is updated
// only if it differs from cfg. Each request is retried while the cluster
// cannot answer yet (UntilAnswered).
//
// It returns the stream's configuration as the server holds it, which
// lacks any setting the server does not know (AllowAtomicPublish, on a
// server older than 2.12).
func (b *Bus) ensure(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.StreamConfig, error) {
	existing, current, err := b.streamConfig(ctx, cfg.Name)
	if err != nil {
		return cfg, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	var refused error // the server's answer to the offer before, if any
	plan := replicaPlan(b.replicas, existing)
	for i, r := range plan {
		cfg.Replicas = r
		got, err := b.createOrUpdate(ctx, cfg, current)
		if err == nil {
			b.logReplicas(cfg.Name, got.Replicas, existing, refused)
			return got, nil
		}
		if i == len(plan)-1 || !cannotPlace(err) {
			return cfg, fmt.Errorf("ensure stream %s with %d replicas: %w", cfg.Name, r, err)
		}
		refused = err
	}
	return cfg, nil // not reached: plan is never empty
}

// streamConfig returns the replicas and configuration of stream name, or 0
// and nil if it does not exist.
func (b *Bus) streamConfig(ctx context.Context, name string) (int, *jetstream.StreamConfig, error) {
	var cfg *jetstream.StreamConfig
	err := UntilAnswered(ctx, func(ctx context.Context) error {
		s, err := b.js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			cfg = nil
			return nil
		}
		if err != nil {
			return err
		}
		c := s.CachedInfo().Config
		cfg = &c
		return nil
	})
	if err != nil || cfg == nil {
		return 0, nil, err
	}
	return cfg.Replicas, cfg, nil
}

// createOrUpdate makes the stream match cfg, given its configuration now
// (nil if it does not exist), and returns its configuration then.
func (b *Bus) createOrUpdate(ctx context.Context, cfg jetstream.StreamConfig, current *jetstream.StreamConfig) (jetstream.StreamConfig, error) {
	if current != nil && sameStream(*current, cfg) {
		return *current, nil
	}
	var got jetstream.StreamConfig
	err := UntilAnswered(ctx, func(ctx context.Context) error {
		var s jetstream.Stream
		var err error
		if current == nil {
			s, err = b.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				// Another service created it first, or an unanswered
				// attempt of ours did: update it from here on.
				current = &jetstream.StreamConfig{}
				s, err = b.js.UpdateStream(ctx, cfg)
			}
		} else {
			s, err = b.js.UpdateStream(ctx, cfg)
		}
		if err != nil {
			return err
		}
		got = s.CachedInfo().Config
		return nil
	})
	return got, err
}

// sameStream reports whether the stream configured as have already has
// every setting EnsureStream gives it in want.
func sameStream(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.MaxBytes == want.MaxBytes &&
		have.Replicas == want.Replicas && have.Storage == want.Storage && have.Retention == want.Retention &&
		have.Discard == want.Discard && have.Duplicates == want.Duplicates && have.AllowDirect == want.AllowDirect &&
		have.AllowAtomicPublish == want.AllowAtomicPublish
}

// logReplicas logs that stream got replicas, and why. existing is what it
// had before (0 if new); refused is the server's refusal of more replicas,
// or nil.
func (b *Bus) logReplicas(stream string, replicas, existing int, refused error) {
	level, why := slog.LevelInfo, ""
	cluster := "the NATS cluster"
	if name := b.nc.ConnectedClusterName(); name != "" {
		cluster = fmt.Sprintf("NATS cluster %q", name)
	}
	switch {
	case b.replicas > 0:
		why = "set explicitly"
		if existing > 0 && existing != replicas {
			why += fmt.Sprintf(", changed from %d", existing)
		}
	case refused != nil && isAPIError(refused, jsErrReplicasNotSupported):
		why = "automatic: the NATS server is not clustered"
	case refused != nil:
		level = slog.LevelWarn
		why = fmt.Sprintf("automatic: %s cannot place %d replicas now (%v); the next start offers %d again",
			cluster, clusterReplicas, refused, clusterReplicas)
	case existing > clusterReplicas:
		why = fmt.Sprintf("automatic: the stream has %d; automatic mode never lowers replicas", existing)
	default:
		why = fmt.Sprintf("automatic: %s placed %d replicas", cluster, replicas)
	}
	if refused != nil && existing > 1 {
		why += fmt.Sprintf("; kept the stream's %d", existing)
	}
	b.log.Log(context.Background(), level, "stream replicas", "stream", stream, "replicas", replicas, "why", why)
}

// cannotPlace reports whether err is the server refusing a replica count it
// cannot place; any other error stops EnsureStream.
func cannotPlace(err error) bool {
	return isAPIError(err, jsErrNoPeers) || isAPIError(err, jsErrInsufficientResources) ||
		isAPIError(err, jsErrReplicasNotSupported) || isAPIError(err, jsErrNoLimits)
}

func isAPIError(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}
