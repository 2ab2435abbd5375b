package service

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/bus"
	"github.com/heraldev/herald/observe"
	"github.com/heraldev/herald/store"
)

// Config is how one service is set up: catalogue.Build takes it.
type Config struct {
	// DataDir holds the service's SQLite database, <DataDir>/<base>.db, unless
	// DB names another.
	DataDir string
	// DB is the service's database: a postgres:// URL or a SQLite file path.
	// Empty means the SQLite file in DataDir. Several instances of a write
	// service may share one PostgreSQL database.
	DB       string
	Addr     string // listen address
	AddrFlag string // the flag that sets Addr, for error messages
	Logger   *slog.Logger
	// Replica names one replica of a query service. Each replica has its own
	// read model (<DataDir>/<base>-<Replica>.db) and its own durable consumer
	// (<base>-<Replica>), so replicas scale reads and each receives every
	// event; a new one builds itself from the stream's history. Empty means
	// the unnamed replica, <base>. Letters, digits, '-' and '_' only.
	Replica string
	// Generation picks, for a read model on SQLite, which generation of its
	// database to open (see store.Generations): 0, the default, opens the
	// live one; a rebuild opens the one it builds.
	Generation int
	// Consumer settings for services that consume; zero values take
	// bus.Consumer's defaults.
	MaxDeliver int
	Backoff    []time.Duration
	AckWait    time.Duration
	// Pprof serves Go's profiles on the service's address (see
	// Service.Pprof). Off by default.
	Pprof bool
	// Tracing is the process's tracing; nil traces nothing.
	Tracing *observe.Tracing
	// MaxWait bounds a read-your-writes wait (see Service.MaxWait).
	MaxWait time.Duration
	// NoFsync opens the service's SQLite database without an fsync per
	// commit (store.Options.NoSync): herald up --no-fsync.
	NoFsync bool
	// Auth verifies the callers' tokens (see Service.Auth). nil turns
	// authorization off: every caller acts as an admin. Only tests and
	// embedders leave it nil; herald up and herald serve always set it.
	Auth *auth.Verifier
	// Issuer signs the tokens of users who sign in; only the users
	// service uses it, and nil makes its POST /sessions answer 503.
	Issuer *auth.Issuer
	// Limits bound each client's requests; nil takes the defaults (see
	// Limits).
	Limits *Limits
	// Wrap, if set, wraps each consumer's handler. Tests use it to inject
	// failures; production leaves it nil.
	Wrap func(bus.Handler) bus.Handler
}

var replicaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Check reports a Replica that cannot name a durable consumer.
func (c Config) Check() error {
	if c.Replica != "" && !replicaName.MatchString(c.Replica) {
		return fmt.Errorf("replica name %q: use 1 to 64 letters, digits, '-' or '_'", c.Replica)
	}
	return nil
}

// Name returns base with the replica's name, if any: the name of a query
// replica's database file and durable consumer.
func (c Config) Name(base string, replicated bool) string {
	if replicated && c.Replica != "" {
		return base + "-" + c.Replica
	}
	return base
}

// OpenDB opens the database of the service whose files are named base
// (e.g. "shop-orders"): Config.DB if set, else <DataDir>/<base>.db, and
// applies migrations.
func (c Config) OpenDB(ctx context.Context, base string, migrations []store.Migration) (*sql.DB, error) {
	return store.OpenWith(ctx, c.DSN(base), migrations, store.Options{NoSync: c.NoFsync})
}

// DSN returns the database OpenDB opens for base: Config.DB if set, else
// <DataDir>/<base>.db.
func (c Config) DSN(base string) string {
	if c.DB != "" {
		return c.DB
	}
	return filepath.Join(c.DataDir, base+".db")
}

// Consumer returns the durable consumer name on stream for subjects, with
// c's delivery settings and hs. With Wrap set, the one-at-a-time handler is
// wrapped and batching is off, so that what Wrap injects sees every message.
func (c Config) Consumer(name, stream string, subjects []string, hs Handlers) Consumer {
	if c.Wrap != nil {
		hs = Handlers{One: c.Wrap(hs.One)}
	}
	return Consumer{Handler: hs.One, Consumer: bus.Consumer{
		Name: name, Stream: stream, Subjects: subjects,
		MaxDeliver: c.MaxDeliver, Backoff: c.Backoff, AckWait: c.AckWait,
		Batch: hs.Batch,
	}}
}
