// Package ncruces configures github.com/ncruces/go-sqlite3 (SQLite built to
// Wasm and translated to Go by wasm2go, with a VFS of its own in Go) for the
// workload package.
//
// Its embed package is not imported: in v0.37.0 the translated SQLite is
// compiled into the module, and embed is deprecated (importing it only
// prints a notice to stderr).
package ncruces

import (
	"net/url"
	"strconv"

	_ "github.com/ncruces/go-sqlite3/driver" // registers "sqlite3"

	"github.com/heraldev/herald/bench/sqlitedrivers/workload"
)

// Driver sets the pragmas as _pragma parameters, busy_timeout first as
// the driver's documentation asks, and _txlock=immediate (its default
// too, said explicitly).
var Driver = workload.Driver{Name: "sqlite3", DSN: dsn}

func dsn(path string, s workload.Settings) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.Itoa(s.BusyTimeout)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+string(s.Sync)+")")
	q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(workload.WALAutocheckpoint)+")")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}
