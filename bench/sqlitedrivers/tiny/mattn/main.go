// Command mattn is footprint's tiny program on github.com/mattn/go-sqlite3.
package main

import (
	"os"

	_ "github.com/mattn/go-sqlite3"

	"github.com/heraldev/herald/bench/sqlitedrivers/footprint"
)

func main() {
	os.Exit(footprint.Main("sqlite3", func(path string) string {
		return path + "?_journal_mode=WAL&_synchronous=FULL&_txlock=immediate"
	}))
}
