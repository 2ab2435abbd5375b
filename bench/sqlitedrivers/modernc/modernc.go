// Package modernc configures modernc.org/sqlite, the driver Herald uses
// (a C-to-Go translation of SQLite), for the workload package.
package modernc

import (
	"net/url"
	"strconv"

	_ "modernc.org/sqlite" // registers "sqlite"

	"github.com/heraldev/herald/bench/sqlitedrivers/workload"
)

// Driver opens databases exactly as store.OpenSQLite does: pragmas as
// _pragma parameters, in its order, and _txlock=immediate.
var Driver = workload.Driver{Name: "sqlite", DSN: dsn}

func dsn(path string, s workload.Settings) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(s.Sync)+")")
	q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(workload.WALAutocheckpoint)+")")
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(s.BusyTimeout)+")")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}
