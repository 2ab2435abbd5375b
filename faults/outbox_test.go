//go:build faults || cluster

package faults

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/heraldev/herald/event"
)

// ackedButPending returns the ids of events in svc's outbox that the stream
// already holds: published and acknowledged, not yet deleted.
func (c *cluster) ackedButPending(t *testing.T, svc string) map[string]bool {
	t.Helper()
	pending := map[string]bool{}
	err := c.withWriteDB(svc, func(db *sql.DB) error {
		return eachRow(db, `SELECT event_id FROM outbox`, func(s scanner) error {
			var id string
			err := s.Scan(&id)
			pending[id] = true
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for id, n := range c.storedCopies(t, pending) {
		if n > 0 {
			out[id] = true
		}
	}
	return out
}

// storedCopies counts, for each event id, the stream messages with that
// Nats-Msg-Id.
func (c *cluster) storedCopies(t *testing.T, ids map[string]bool) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := c.readStream(ctx, event.ShopStream)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for id := range ids {
		n[id] = 0
	}
	for _, m := range msgs {
		if v := m.Header["Nats-Msg-Id"]; len(v) > 0 && ids[v[0]] {
			n[v[0]]++
		}
	}
	return n
}
