//go:build faults

package faults

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/internal/failpoint"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/store"
)

// TestRebuildQuery is the proof of herald rebuild on a running
// system, every part its own process (herald bus, herald serve for each
// shop service, herald rebuild): onto a stream of more than 100,000 events,
// with reads looping on the query (GET /users/{id}/products of every user,
// over kept-alive connections and over new ones) and orders being placed
// through the orders service all along,
//
//   - a rebuild completes: no read fails, the query then reads the next
//     generation, the previous generation's file is removed, and every
//     user's answer equals a fold of the stream, before and after;
//   - a rebuild SIGKILLed a third of the way through leaves the live
//     generation serving and applying the writes; run again, it resumes
//     where it stopped and completes, with the same checks;
//   - a rebuild SIGKILLed right after it paused the live consumers (a
//     failpoint holds it there) leaves them paused only until its lease
//     (3s) ends: they resume by themselves and catch up with the writes;
//     the next run completes;
//   - the query, restarted, opens the last generation and answers the same.
//
// The subtests share the one deployment and its stream, in order: each
// rebuild builds the generation after the live one. One to two and a half
// minutes on 2 shared cores.
func TestRebuildQuery(t *testing.T) {
	c := startCluster(t, "rebuild-query", nil, nil)
	r := newRebuildRig(t, c)
	seeded := time.Now()
	n := r.seed()
	published := time.Since(seeded)
	r.waitDrained("the seeded events applied")
	t.Logf("%d events published onto SHOP in %s, applied by the query and orders %s later", n,
		published.Round(100*time.Millisecond), (time.Since(seeded) - published).Round(100*time.Millisecond))
	r.sameAsFold("before any rebuild")

	steps := []struct {
		name string
		run  func(t *testing.T, r *rebuildRig)
	}{
		{"CompletesWhileReadsAndWritesGoOn", rebuildCompletes},
		{"KilledMidwayResumesAndCompletes", rebuildKilledMidway},
		{"KilledWhilePausedTheConsumersResumeByThemselves", rebuildKilledWhilePaused},
		{"RestartedQueryOpensTheLastGeneration", restartedQueryKeepsGeneration},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.run(t, r.on(t)) }) {
			return // the next steps start from the state this one leaves
		}
	}
}

// rebuildCompletes runs herald rebuild query to its end under reads and
// writes.
func rebuildCompletes(t *testing.T, r *rebuildRig) {
	live := r.generation().Generation
	r.sameAsFold("before the rebuild")
	tr := r.startTraffic()
	started := time.Now()
	p := r.startRebuild(nil)
	out := r.waitRebuild(p, live+1)
	r.finish(tr, live, live+1, started, out)
}

// rebuildKilledMidway SIGKILLs herald rebuild query once it has applied a
// third of the stream, checks that the live generation serves and applies
// the writes on, and runs the rebuild again: it resumes and completes.
func rebuildKilledMidway(t *testing.T, r *rebuildRig) {
	live := r.generation().Generation
	r.sameAsFold("before the rebuild")
	tr := r.startTraffic()
	started := time.Now()
	total := r.lastSeq()
	p := r.startRebuild(nil)
	next := r.gens().Path(live + 1)
	var applied uint64
	err := waitFor(3*time.Minute, 10*time.Millisecond, func() error {
		if !p.alive() {
			return fmt.Errorf("%w before it applied a third of the stream:\n%s", errExited, p.tail(20))
		}
		var err error
		if applied, err = rebuildProgress(next); err != nil || applied < total/3 {
			return fmt.Errorf("%w: applied up to #%d of #%d (%v)", errNotYet, applied, total, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("herald rebuild query did not get a third of the way: %v", err)
	}
	killNine(p)
	// What the killed process recorded: at least what was seen above.
	if applied, err = rebuildProgress(next); err != nil {
		t.Fatalf("generation %d after the kill: %v", live+1, err)
	}
	t.Logf("herald rebuild query (pid %d) SIGKILLed with generation %d applied up to SHOP #%d of #%d (%.0f%%)",
		p.pid(), live+1, applied, total, 100*float64(applied)/float64(total))
	if applied >= total {
		t.Fatalf("the rebuild was killed at #%d, past the stream's #%d at its start: not in the middle", applied, total)
	}
	if st := r.generation(); st.Generation != live || st.PausedUntil != nil {
		t.Fatalf("after the kill the query reads generation %d (paused until %v), want %d, not paused", st.Generation, st.PausedUntil, live)
	}
	r.liveConsumerKeepsUp("after the rebuild was killed")

	again := r.startRebuild(nil)
	out := r.waitRebuild(again, live+1)
	m := resumingRe.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(live+1) {
		t.Fatalf("the second herald rebuild query did not resume generation %d; it said:\n%s", live+1, out)
	}
	if from, _ := strconv.ParseUint(m[2], 10, 64); from < applied {
		t.Errorf("the second run resumed after #%d, before #%d, which the killed run had recorded", from, applied)
	}
	r.finish(tr, live, live+1, started, out)
}

// resumingRe is herald rebuild's line when it resumes an interrupted
// rebuild: the generation and the position it resumes after.
var resumingRe = regexp.MustCompile(`resuming generation (\d+) of query after SHOP #(\d+)`)

// rebuildKilledWhilePaused SIGKILLs herald rebuild query while it holds the
// live consumers paused (failpoint rebuild-after-pause holds it there),
// with a 3s lease: the consumers resume by themselves when it ends and
// catch up with the writes made meanwhile; the next run completes.
func rebuildKilledWhilePaused(t *testing.T, r *rebuildRig) {
	live := r.generation().Generation
	r.sameAsFold("before the rebuild")
	tr := r.startTraffic()
	started := time.Now()
	const lease = 3 * time.Second
	p := r.startRebuild([]string{"HERALD_FAILPOINTS=" + failpoint.RebuildAfterPause + "=sleep:5m"}, "--lease", lease.String())
	var st service.GenerationState
	err := waitFor(3*time.Minute, 10*time.Millisecond, func() error {
		if !p.alive() {
			return fmt.Errorf("%w before it paused the consumers:\n%s", errExited, p.tail(20))
		}
		if st = r.generation(); st.PausedUntil == nil {
			return errNotYet
		}
		return nil
	})
	if err != nil {
		t.Fatalf("herald rebuild query did not pause the query's consumers: %v", err)
	}
	killNine(p)
	killed := time.Now()
	t.Logf("herald rebuild query (pid %d) SIGKILLed with the consumers paused until %s", p.pid(), st.PausedUntil.Format(time.RFC3339Nano))
	if st.Generation != live {
		t.Fatalf("while paused the query reads generation %d, want %d", st.Generation, live)
	}
	// The writes go on while paused: the consumer falls behind, and
	// catches up once the lease ends.
	if err := waitFor(lease+10*time.Second, 50*time.Millisecond, func() error {
		if st = r.generation(); st.PausedUntil != nil {
			return fmt.Errorf("%w: paused until %s", errNotYet, st.PausedUntil.Format(time.RFC3339Nano))
		}
		return nil
	}); err != nil {
		t.Fatalf("the query's consumers stayed paused after the lease: %v", err)
	}
	t.Logf("the consumers resumed by themselves %s after the kill", time.Since(killed).Round(10*time.Millisecond))
	if st.Generation != live {
		t.Fatalf("after the lease the query reads generation %d, want %d", st.Generation, live)
	}
	r.liveConsumerKeepsUp("after the lease ended")

	again := r.startRebuild(nil)
	out := r.waitRebuild(again, live+1)
	r.finish(tr, live, live+1, started, out)
}

// restartedQueryKeepsGeneration restarts the query process: it opens the
// generation the last rebuild made live, and answers as the fold does.
func restartedQueryKeepsGeneration(t *testing.T, r *rebuildRig) {
	live := r.generation().Generation
	if live < 2 {
		t.Fatalf("the query reads generation %d: no rebuild went live", live)
	}
	r.c.stopClean("query")
	r.c.restart("query", svcOpts{})
	if got := r.generation().Generation; got != live {
		t.Fatalf("after a restart the query reads generation %d, want %d", got, live)
	}
	if on, err := r.gens().OnDisk(); err != nil || len(on) != 1 || on[0] != live {
		t.Errorf("after a restart the generations on disk are %v (%v), want only %d", on, err, live)
	}
	r.waitDrained("the restarted query caught up")
	r.sameAsFold(fmt.Sprintf("after a restart on generation %d", live))
}

// finish stops tr and checks what every completed rebuild must leave: no
// failed read, writes made, generation to live and not paused, generation
// from's file gone, and every answer equal to the fold of the stream once
// the writes are applied. It records the step's figures.
func (r *rebuildRig) finish(tr *traffic, from, to int, started time.Time, out string) {
	t := r.t
	t.Helper()
	tr.halt()
	stopped := time.Now()
	reads, failedReads, first := tr.readCounts()
	okN, failedN, unknownN := tr.l.counts()
	t.Logf("%d reads during the rebuild, %d failed; %d orders placed, %d refused, %d unknown", reads, failedReads, okN, failedN, unknownN)
	if failedReads > 0 {
		t.Errorf("%d of %d reads failed during the rebuild; the first: %s", failedReads, reads, first)
	}
	if reads == 0 || okN == 0 {
		t.Errorf("%d reads and %d orders during the rebuild: it proved nothing", reads, okN)
	}
	if !strings.Contains(out, fmt.Sprintf("query now reads generation %d", to)) {
		t.Errorf("herald rebuild query did not say the query reads generation %d:\n%s", to, out)
	}
	if st := r.generation(); st.Generation != to || st.PausedUntil != nil {
		t.Errorf("GET /generation: generation %d, paused until %v; want %d, not paused", st.Generation, st.PausedUntil, to)
	}
	old := r.gens().Path(from)
	if err := waitFor(30*time.Second, 50*time.Millisecond, func() error {
		if _, err := os.Stat(old); !os.IsNotExist(err) {
			return fmt.Errorf("%w: %s is still there (%v)", errNotYet, old, err)
		}
		return nil
	}); err != nil {
		t.Errorf("generation %d's file was not removed: %v", from, err)
	}
	r.waitDrained("the writes applied")
	converged := time.Since(stopped)
	r.sameAsFold(fmt.Sprintf("after the rebuild to generation %d", to))
	rate := "?"
	if m := rateRe.FindStringSubmatch(out); m != nil {
		rate = fmt.Sprintf("%s events in %s (%s/s)", m[1], m[2], m[3])
	}
	t.Logf("herald rebuild's last run applied %s; %s from the first run's start to the checks", rate, time.Since(started).Round(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shop, err := r.c.streamState(ctx, "SHOP")
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := r.c.streamState(ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	r.c.sampleQuery()
	name := r.c.name + "/" + t.Name()[strings.LastIndex(t.Name(), "/")+1:]
	record(t, figures{Test: name, OK: okN, Failed: failedN, Unknown: unknownN,
		Published: shop.Msgs, Duplicates: r.c.duplicates(), DeadLettered: dlq.Msgs, Converge: converged, MaxLag: int64(r.c.lag.highest())})
	// The reads are this test's own figures, beside the suite's line.
	line := fmt.Sprintf("FIGURES %s reads: reads=%d failed=%d generation %d->%d, herald rebuild applied %s", name, reads, failedReads, from, to, rate)
	t.Log(line)
	fmt.Println(line)
}

// rateRe finds herald rebuild's last line: events, time and rate.
var rateRe = regexp.MustCompile(`now reads generation \d+: (\d+) events applied in (\S+) \((\d+)/s\)`)

// rebuildProgress reads how far the rebuild of the generation at path has
// applied the stream, from the database itself, opened read-only while the
// rebuild writes it.
func rebuildProgress(path string) (uint64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var applied uint64
	if err := db.QueryRow(`SELECT applied FROM herald_generation WHERE id = 1`).Scan(&applied); err != nil {
		return 0, fmt.Errorf("read %s's progress: %w", path, err)
	}
	return applied, nil
}

// generation asks the query for GET /generation, failing the test if it
// does not answer.
func (r *rebuildRig) generation() service.GenerationState {
	r.t.Helper()
	var st service.GenerationState
	status, b, err := r.get("/generation")
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || status != http.StatusOK {
		r.t.Fatalf("GET /generation: %d %s %v", status, b, err)
	}
	return st
}

// gens returns the query's generations, named from its first one.
func (r *rebuildRig) gens() store.Generations { return store.GenerationsOf(r.generation().First) }
