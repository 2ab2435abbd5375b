package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Generations are the copies of one read model's SQLite database, side by
// side in a folder, so that a new copy can be built from the stream while
// the live one serves (a blue/green rebuild). Generation 1 is the database's
// own file, <base>.db, the name a read model had before it was ever
// rebuilt; generation n ≥ 2 is <base>.g<n>.db. Which one is live is
// recorded in <base>.live (a decimal number; no file means 1), replaced
// atomically, so a crash leaves either the old or the new generation live,
// never neither.
//
// A Generations is a value; its methods touch the filesystem and are safe
// to call from several goroutines, but one process at a time should change
// which generation is live (the service that serves the read model).
type Generations struct {
	// First is the path of generation 1, "<dir>/<base>.db".
	First string
}

// GenerationsOf returns the generations of the SQLite database at path
// (generation 1).
func GenerationsOf(path string) Generations { return Generations{First: path} }

func (g Generations) stem() string { return strings.TrimSuffix(g.First, ".db") }

// Path returns the database file of generation n (n ≥ 1).
func (g Generations) Path(n int) string {
	if n <= 1 {
		return g.First
	}
	return g.stem() + ".g" + strconv.Itoa(n) + ".db"
}

// manifest is the file that names the live generation.
func (g Generations) manifest() string { return g.stem() + ".live" }

// Live returns the live generation: the number in the manifest, or 1 if
// there is none. A manifest that does not hold a generation number is an
// error naming the file.
func (g Generations) Live() (int, error) {
	b, err := os.ReadFile(g.manifest())
	if errors.Is(err, os.ErrNotExist) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the live generation: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s must hold the live generation's number (1 or more), not %q; fix or delete it (deleting it makes %s live)",
			g.manifest(), strings.TrimSpace(string(b)), g.First)
	}
	return n, nil
}

// SetLive makes generation n the live one: it writes the manifest to a
// temporary file, syncs it, renames it over the manifest and syncs the
// folder, so that after a crash the manifest names either the old or the
// new generation.
func (g Generations) SetLive(n int) error {
	if n < 1 {
		return fmt.Errorf("set the live generation: %d is not a generation", n)
	}
	tmp := g.manifest() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("set the live generation: %w", err)
	}
	_, err = fmt.Fprintf(f, "%d\n", n)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, g.manifest())
	}
	if err == nil {
		err = syncDir(filepath.Dir(g.manifest()))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("set the live generation to %d: %w", n, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove deletes generation n's database file and SQLite's files beside it
// (-wal, -shm). A generation that is not there is not an error.
func (g Generations) Remove(n int) error {
	var errs []error
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(g.Path(n) + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove generation %d: %w", n, err)
	}
	return nil
}

// OnDisk returns the generations whose database files exist, in order.
func (g Generations) OnDisk() ([]int, error) {
	var out []int
	if _, err := os.Stat(g.First); err == nil {
		out = append(out, 1)
	}
	matches, err := filepath.Glob(g.stem() + ".g*.db")
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	re := regexp.MustCompile(`\.g([0-9]+)\.db$`)
	for _, m := range matches {
		if sm := re.FindStringSubmatch(m); sm != nil {
			if n, err := strconv.Atoi(sm[1]); err == nil && n >= 2 && m == g.Path(n) {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// Exists reports whether generation n's database file exists.
func (g Generations) Exists(n int) bool {
	_, err := os.Stat(g.Path(n))
	return err == nil
}

// Progress is what a generation's database records of how it was built:
// by which version of its projection, up to which stream position a
// rebuild has applied, and whether that rebuild finished (caught up with
// the stream while the live generation's consumers were paused).
type Progress struct {
	Projection int    // the projection's version; 0: not recorded
	Stream     string // the stream it was built from; "" before a rebuild
	Applied    uint64 // stream position a rebuild has applied up to
	Complete   bool   // the rebuild caught up and may go live
}

const progressTable = `CREATE TABLE IF NOT EXISTS herald_generation (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	projection INTEGER NOT NULL,
	stream     TEXT NOT NULL DEFAULT '',
	applied    INTEGER NOT NULL DEFAULT 0,
	complete   INTEGER NOT NULL DEFAULT 0
)`

// ReadProgress returns what db, a read model generation's database,
// records of how it was built; a database that records nothing (built
// before generations existed) answers a zero Progress.
func ReadProgress(ctx context.Context, db *sql.DB) (Progress, error) {
	var p Progress
	if _, err := db.ExecContext(ctx, progressTable); err != nil {
		return p, fmt.Errorf("read generation progress: %w", err)
	}
	err := db.QueryRowContext(ctx, `SELECT projection, stream, applied, complete FROM herald_generation WHERE id = 1`).
		Scan(&p.Projection, &p.Stream, &p.Applied, &p.Complete)
	if errors.Is(err, sql.ErrNoRows) {
		return Progress{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("read generation progress: %w", err)
	}
	return p, nil
}

// WriteProgress records p in db.
func WriteProgress(ctx context.Context, db *sql.DB, p Progress) error {
	if _, err := db.ExecContext(ctx, progressTable); err != nil {
		return fmt.Errorf("record generation progress: %w", err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO herald_generation (id, projection, stream, applied, complete) VALUES (1, $1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET projection = excluded.projection, stream = excluded.stream, applied = excluded.applied, complete = excluded.complete`,
		p.Projection, p.Stream, p.Applied, p.Complete)
	if err != nil {
		return fmt.Errorf("record generation progress: %w", err)
	}
	return nil
}

// RecordConsumer records in db that the durable consumer called name feeds
// it, as AttachConsumer does on its first attach: a generation a rebuild
// built takes the live consumer over where it stopped instead of resetting
// it to the stream's start.
func RecordConsumer(ctx context.Context, db *sql.DB, name string) error {
	if _, err := db.ExecContext(ctx, `INSERT INTO consumers (name) VALUES ($1) ON CONFLICT DO NOTHING`, name); err != nil {
		return fmt.Errorf("record consumer %s: %w", name, err)
	}
	return nil
}

// FedBy reports whether any durable consumer has fed db (AttachConsumer or
// RecordConsumer recorded one): a database no consumer has fed is new.
func FedBy(ctx context.Context, db *sql.DB) (bool, error) {
	var fed bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM consumers)`).Scan(&fed); err != nil {
		return false, fmt.Errorf("look up consumers: %w", err)
	}
	return fed, nil
}
