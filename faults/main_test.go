//go:build faults || cluster

// Package faults is Herald's fault-injection suite. Each test runs the real
// herald binary, built once with -tags faults, as separate processes (one
// embedded NATS JetStream bus and one process per shop service) on random
// local ports in a temp dir, drives them with a seeded load generator, breaks
// something (kill -9, SIGSTOP, a failpoint, a full stream, poison or
// duplicated events), heals it, and then proves the promises of the README:
// nothing lost, nothing applied twice, and a query view equal to the fold of
// the write services' own databases. Every deployment runs secured, as in
// production: NATS identities per service, token keys shared by every
// service, users who sign in (see auth_test.go).
//
//	go test -tags faults -count=1 -timeout 15m -v ./faults/
//
// With -tags cluster instead, the same harness runs Herald scaled out: a
// three-node NATS JetStream cluster (`herald bus` nodes, or an official
// nats-server of 2.10 or newer if one is on PATH), write services on
// PostgreSQL, two instances of orders sharing its database, and two query
// replicas, each its own process, with a NATS node or an orders instance
// killed under load; and the seed scenario in both shapes, one process and
// one per service.
//
//	go test -tags cluster -count=1 -timeout 12m -v ./faults/
//
// Every test prints one FIGURES line; TestMain prints them all as a table.
package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// heraldBin is the faults build of cmd/herald that every test runs.
var heraldBin string

// suiteName names the suite in the figures table's summary line.
var suiteName = "fault suite"

// TestMain builds the binary once, runs the tests, and prints the figures
// table.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	if err := buildHerald(heraldBin); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	start := time.Now()
	code := m.Run()
	printTable(os.Stdout, time.Since(start))
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildHerald runs `go build -tags faults -o out ./cmd/herald` in the module
// root, which it finds with `go env GOMOD`.
func buildHerald(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", "build", "-tags", "faults", "-o", out, "./cmd/herald")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build herald with -tags faults in %s: %w\n%s", root, err, b)
	}
	return nil
}

// figures are the numbers one test reports.
type figures struct {
	Test         string
	OK           int
	Failed       int
	Unknown      int
	Published    uint64        // messages in stream SHOP
	Duplicates   int           // duplicates absorbed by the query consumer or the bus
	DeadLettered uint64        // messages in the DLQ stream
	Converge     time.Duration // end of load or fault until the invariants held
	MaxLag       int64         // highest query consumer lag seen while polling
}

// String is the one FIGURES line of a test.
func (f figures) String() string {
	return fmt.Sprintf("FIGURES %s: writes ok=%d failed=%d unknown=%d published=%d duplicates=%d deadlettered=%d converge=%s maxlag=%d",
		f.Test, f.OK, f.Failed, f.Unknown, f.Published, f.Duplicates, f.DeadLettered, f.Converge.Round(100*time.Millisecond), f.MaxLag)
}

// report collects every test's figures for the table TestMain prints. It is
// safe for concurrent use.
var report struct {
	sync.Mutex
	rows []figures
}

// record logs f on t and on stdout (so CI shows it) and keeps it for the
// table.
func record(t *testing.T, f figures) {
	t.Helper()
	t.Log(f.String())
	fmt.Println(f.String())
	report.Lock()
	report.rows = append(report.rows, f)
	report.Unlock()
}

// printTable writes the figures of every test as a markdown table.
func printTable(w *os.File, took time.Duration) {
	report.Lock()
	defer report.Unlock()
	if len(report.rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\n| test | ok | failed | unknown | published | duplicates | dead-lettered | converge | max lag |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, f := range report.rows {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s | %d |\n",
			f.Test, f.OK, f.Failed, f.Unknown, f.Published, f.Duplicates, f.DeadLettered, f.Converge.Round(100*time.Millisecond), f.MaxLag)
	}
	fmt.Fprintf(w, "\n%s: %d tests with figures in %s\n", suiteName, len(report.rows), took.Round(time.Second))
}
