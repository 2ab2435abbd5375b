package workload

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// checkpointer copies the write-ahead log into the database beside the
// writer, as store.Group does: after a commit, a passive checkpoint on a
// connection of its own, if none ran for checkpointEvery.
type checkpointer struct {
	db *sql.DB

	mu      sync.Mutex
	running bool
	last    time.Time // when the last one ended
	wg      sync.WaitGroup
}

// checkpointEvery is store.Group's checkpointEvery.
const checkpointEvery = 100 * time.Millisecond

// committed is store.Group.counted: call it after each commit.
func (c *checkpointer) committed() {
	c.mu.Lock()
	start := !c.running && time.Since(c.last) >= checkpointEvery
	if start {
		c.running = true
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if !start {
		return
	}
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		c.mu.Lock()
		c.running = false
		c.last = time.Now()
		c.mu.Unlock()
	}()
}

// wait waits for the checkpoint under way, if any.
func (c *checkpointer) wait() { c.wg.Wait() }
