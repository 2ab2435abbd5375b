// Command modernc is footprint's tiny program on modernc.org/sqlite.
package main

import (
	"os"

	_ "modernc.org/sqlite"

	"github.com/heraldev/herald/bench/sqlitedrivers/footprint"
)

func main() {
	os.Exit(footprint.Main("sqlite", func(path string) string {
		return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	}))
}
