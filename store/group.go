package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group runs transactions on a SQLite database grouped together: the
// transactions of callers that arrive while one is being committed wait and
// then commit together, in one database transaction and so one fsync, each
// in a savepoint of its own, so that one caller's failure undoes only its
// own changes. SQLite has one writer at a time and fsyncs every commit, so
// without grouping a write service commits at most a few thousand
// transactions a second, however many requests wait. On PostgreSQL, which
// groups commits itself, InTx runs each transaction alone.
//
// Its goroutines run only while there is work: the writer while
// transactions wait, and on SQLite a checkpoint now and then. Close waits
// for a checkpoint under way; call it before closing the database. It is
// safe for concurrent use.
type Group struct {
	db     *sql.DB
	sqlite bool
	// MaxGroup is the most transactions committed together. Default 64.
	MaxGroup int

	mu      sync.Mutex
	queue   []*groupTx
	running bool
	commits int // database transactions committed, for tests

	checkpointing bool           // a checkpoint is running
	checkpointed  time.Time      // when the last one ended
	closed        bool           // Close was called: no more checkpoints
	checkpoints   sync.WaitGroup // the checkpoint running, for Close

	prepare                    sync.Once
	savepoint, release, rollTo *sql.Stmt // the savepoint statements, prepared once; nil if that failed
}

type groupTx struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan error
}

// DB returns the database the Group writes to.
func (g *Group) DB() *sql.DB { return g.db }

// NewGroup returns a Group on db. Every write to a SQLite database in a
// process should go through one Group: transactions on other connections
// wait for SQLite's write lock in sleeps of up to 25 ms.
func NewGroup(db *sql.DB) *Group {
	return &Group{db: db, sqlite: DialectOf(db) == SQLite, MaxGroup: 64}
}

// statementContext returns the context InTx gives fn for its statements:
// on PostgreSQL ctx itself, since a statement there may wait for another
// instance's row lock and must end with its caller; on SQLite ctx without
// its cancellation. The SQLite driver watches every statement run under a
// cancellable context with a goroutine and a progress handler, which cost
// more than the short statements of a write or a projection (4% of a
// rebuild's CPU went to starting those goroutines alone), while a statement
// of the one writer never waits for a lock. InTx still checks ctx before it
// runs fn.
func (g *Group) statementContext(ctx context.Context) context.Context {
	if g.sqlite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// InTx runs fn in a transaction and commits it, as InTx does: if fn returns
// an error, its changes are undone and the error is returned unchanged; if
// it panics, likewise, with the panic as the error. fn runs its statements
// with the context it is given, which on SQLite is ctx without its
// cancellation (see statementContext).
// Once fn has run, InTx waits for the commit even if ctx is cancelled, so
// that its answer is the write's real outcome.
func (g *Group) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if !g.sqlite {
		return InTx(ctx, g.db, func(tx *sql.Tx) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("transaction panicked: %v", r)
				}
			}()
			return fn(ctx, tx)
		})
	}
	sctx := g.statementContext(ctx)
	t := &groupTx{ctx: ctx, fn: func(tx *sql.Tx) error { return fn(sctx, tx) }, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, t)
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	return <-t.done
}

// run commits groups until the queue is empty.
func (g *Group) run() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), max(g.MaxGroup, 1))
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		group := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.commit(group)
	}
}

// commit runs group in one transaction, each in a savepoint, and tells each
// caller how its transaction ended.
func (g *Group) commit(group []*groupTx) {
	ctx := context.Background() // each fn gets its caller's ctx; the group's work must finish
	tx, err := g.db.BeginTx(ctx, nil)
	if err != nil {
		for _, t := range group {
			t.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	if len(group) == 1 {
		// Alone, a transaction needs no savepoint: a failure rolls it back.
		t := group[0]
		err := t.ctx.Err()
		if err == nil {
			err = runAlone(tx, t)
		}
		if err != nil {
			tx.Rollback()
			t.done <- err
			return
		}
		err = tx.Commit()
		g.counted()
		if err != nil {
			err = fmt.Errorf("commit: %w", err)
		}
		t.done <- err
		return
	}
	var ok []*groupTx // run without error, to learn the commit's outcome
	for _, t := range group {
		if err := t.ctx.Err(); err != nil {
			t.done <- err // the caller gave up before its turn: nothing ran
			continue
		}
		if err := g.inSavepoint(tx, t); err != nil {
			t.done <- err
			continue
		}
		ok = append(ok, t)
	}
	err = tx.Commit()
	g.counted()
	if err != nil {
		err = fmt.Errorf("commit: %w", err)
	}
	for _, t := range ok {
		t.done <- err
	}
}

// counted counts a commit and, on SQLite, starts a checkpoint if none ran
// for checkpointEvery.
func (g *Group) counted() {
	g.mu.Lock()
	g.commits++
	start := g.sqlite && !g.closed && !g.checkpointing && time.Since(g.checkpointed) >= checkpointEvery
	if start {
		g.checkpointing = true
		g.checkpoints.Add(1)
	}
	g.mu.Unlock()
	if start {
		go func() {
			defer g.checkpoints.Done()
			g.checkpoint()
		}()
	}
}

// Close waits for a checkpoint under way and starts no more. Transactions
// may still run through the Group until the database is closed. Without
// it, a checkpoint could open a connection while the database closes, and
// so recreate its files after the owner removed them (a test's temporary
// directory, say).
func (g *Group) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.checkpoints.Wait()
}

// checkpointEvery is how often a Group on SQLite copies the write-ahead
// log into the database while it commits.
//
// SQLite's own automatic checkpoint runs inside the commit that fills the
// log past 1,000 pages, and holds that commit, and every write queued
// behind it, for the copy and two fsyncs: on a write service at 1,000
// orders/s that was a stall of 3 to 8 ms every 200 ms, most of the
// propagation lag's 99th percentile. A passive checkpoint on a connection
// of its own does the same work beside the writer without holding it;
// OpenSQLite raises the automatic one's threshold so that it runs only if
// these fall behind.
const checkpointEvery = 100 * time.Millisecond

// checkpoint runs a passive checkpoint. A failure (the database closed
// under it, say) is left to the next one, or to SQLite's own.
func (g *Group) checkpoint() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	g.mu.Lock()
	g.checkpointing = false
	g.checkpointed = time.Now()
	g.mu.Unlock()
}

// runAlone runs t.fn, turning a panic into its error.
func runAlone(tx *sql.Tx, t *groupTx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("transaction panicked: %v", r)
		}
	}()
	return t.fn(tx)
}

// inSavepoint runs t.fn in a savepoint of tx, undoing its changes if it
// fails or panics. An error in the savepoint statements themselves leaves tx
// unusable, and is returned for every later caller by the commit.
func (g *Group) inSavepoint(tx *sql.Tx, t *groupTx) (err error) {
	if _, err := g.exec(tx, &g.savepoint, `SAVEPOINT grouped`); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("transaction panicked: %v", r)
		}
		if err != nil {
			if _, rerr := g.exec(tx, &g.rollTo, `ROLLBACK TO grouped`); rerr != nil {
				err = errors.Join(err, fmt.Errorf("roll back to savepoint: %w", rerr))
			}
		}
		if _, rerr := g.exec(tx, &g.release, `RELEASE grouped`); rerr != nil && err == nil {
			err = fmt.Errorf("release savepoint: %w", rerr)
		}
	}()
	return t.fn(tx)
}

// exec runs one of the savepoint statements, q, in tx: prepared once in
// *stmt (two statements parsed per transaction were 2% of a write
// service's CPU), or parsed if preparing failed.
func (g *Group) exec(tx *sql.Tx, stmt **sql.Stmt, q string) (sql.Result, error) {
	g.prepare.Do(func() {
		ctx := context.Background()
		var err error
		for _, p := range []struct {
			into **sql.Stmt
			q    string
		}{{&g.savepoint, `SAVEPOINT grouped`}, {&g.release, `RELEASE grouped`}, {&g.rollTo, `ROLLBACK TO grouped`}} {
			if *p.into, err = g.db.PrepareContext(ctx, p.q); err != nil {
				*p.into = nil
			}
		}
	})
	if *stmt == nil {
		return tx.Exec(q)
	}
	return tx.Stmt(*stmt).Exec()
}
