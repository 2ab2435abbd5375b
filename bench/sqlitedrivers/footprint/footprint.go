// Package footprint is the body of the tiny programs that compare what
// each driver costs a binary and a process: it opens a database, uses a
// few connections and prints the SQLite version, the compile options and
// the memory the process holds. It imports nothing but the standard
// library, so the programs' sizes are the driver's and Go's.
package footprint

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Main runs the program for the driver registered as name; dsn returns
// the data source name of a database file in WAL mode. It returns the exit
// status.
func Main(name string, dsn func(path string) string) int {
	conns := flag.Int("conns", 4, "connections to open and use at once (store.OpenSQLite's pool holds 4)")
	rows := flag.Int("rows", 100_000, "rows of about 100 bytes to write, then read on every connection")
	options := flag.Bool("options", false, "print the compile options")
	flag.Parse()
	if err := run(name, dsn, *conns, *rows, *options); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func run(name string, dsn func(string) string, conns, rows int, options bool) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "footprint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	report("start")
	db, err := sql.Open(name, dsn(filepath.Join(dir, "f.db")))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	var version string
	if err := db.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&version); err != nil {
		return err
	}
	fmt.Printf("driver %s, SQLite %s, %s\n", name, version, runtime.Version())
	if options {
		r, err := db.QueryContext(ctx, `PRAGMA compile_options`)
		if err != nil {
			return err
		}
		var opts []string
		for r.Next() {
			var o string
			if err := r.Scan(&o); err != nil {
				return err
			}
			opts = append(opts, o)
		}
		r.Close()
		fmt.Printf("compile options: %s\n", strings.Join(opts, " "))
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	pad := strings.Repeat("x", 100)
	for i := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (?, ?)`, i, pad); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	report("1 connection, wrote")
	// Hold conns connections at once, each having read the whole table
	// (its page cache full: 2 MiB by default).
	var held []*sql.Conn
	for range conns {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		held = append(held, c)
		var n int
		var sum int
		if err := c.QueryRowContext(ctx, `SELECT count(*), sum(length(v)) FROM t`).Scan(&n, &sum); err != nil {
			return err
		}
	}
	report(fmt.Sprintf("%d connections, read", conns))
	for _, c := range held {
		c.Close()
	}
	return nil
}

// report prints the process's resident memory now and at its peak, its
// address space, and the Go runtime's share.
func report(stage string) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	status, _ := os.ReadFile("/proc/self/status")
	vm := map[string]string{}
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			vm[f[0]] = f[1]
		}
	}
	fmt.Printf("%-24s RSS %6s KiB  peak %6s KiB  virtual %9s KiB  Go heap in use %6d KiB  Go runtime total %6d KiB\n",
		stage+":", vm["VmRSS:"], vm["VmHWM:"], vm["VmSize:"], m.HeapInuse>>10, m.Sys>>10)
}
