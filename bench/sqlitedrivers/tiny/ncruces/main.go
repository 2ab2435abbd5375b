// Command ncruces is footprint's tiny program on github.com/ncruces/go-sqlite3.
package main

import (
	"os"

	_ "github.com/ncruces/go-sqlite3/driver"

	"github.com/heraldev/herald/bench/sqlitedrivers/footprint"
)

func main() {
	os.Exit(footprint.Main("sqlite3", func(path string) string {
		return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	}))
}
