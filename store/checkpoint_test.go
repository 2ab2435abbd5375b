package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/store"
)

// TestGroupCheckpointsTheLogBesideTheWriter: writes through a Group on
// SQLite reach the database file while writing goes on, though SQLite's own
// checkpoint (raised to 10,000 pages by OpenSQLite) has not run: the Group
// checkpoints beside the writer, so that no commit stalls to copy the log.
func TestGroupCheckpointsTheLogBesideTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db := open(t, path, []store.Migration{{SQLite: `CREATE TABLE blob (b BLOB NOT NULL)`}})
	g := newGroup(t, db)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	row := []byte(strings.Repeat("x", 8<<10)) // about four pages of log a write
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	written := 0
	// Paced, so that the test spans several checkpoint intervals however
	// fast the disk.
	pace := time.NewTicker(2 * time.Millisecond)
	defer pace.Stop()
	// 1,000 pages reach the file after some 250 writes; 2,000 writes stay
	// below SQLite's threshold, so only the Group's checkpoints can have
	// copied them.
	for size() < before+1000*4096 {
		if time.Now().After(deadline) || written >= 2000 {
			t.Fatalf("after %d writes (some %d pages of log) the database file grew from %d to %d bytes: the log was not checkpointed",
				written, written*4, before, size())
		}
		if err := g.InTx(ctx, func(_ context.Context, tx *sql.Tx) error {
			_, err := tx.Exec(`INSERT INTO blob (b) VALUES ($1)`, row)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		written++
		<-pace.C
	}
}
