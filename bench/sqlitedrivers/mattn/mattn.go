// Package mattn configures github.com/mattn/go-sqlite3 (SQLite's C
// amalgamation through cgo) for the workload package.
package mattn

import (
	"database/sql"
	"net/url"
	"strconv"

	"github.com/mattn/go-sqlite3"

	"github.com/heraldev/herald/bench/sqlitedrivers/workload"
)

// Driver sets the pragmas the driver has DSN parameters for through them
// (_journal_mode, _synchronous, _busy_timeout, _foreign_keys, _txlock).
// It has none for wal_autocheckpoint, so the driver is registered again,
// as "sqlite3_herald", with a connect hook that sets it: mattn's own way
// of running a pragma on every new connection.
var Driver = workload.Driver{Name: "sqlite3_herald", DSN: dsn}

func init() {
	sql.Register("sqlite3_herald", &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint("+strconv.Itoa(workload.WALAutocheckpoint)+")", nil)
			return err
		},
	})
}

func dsn(path string, s workload.Settings) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", string(s.Sync))
	q.Set("_busy_timeout", strconv.Itoa(s.BusyTimeout))
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode()
}
