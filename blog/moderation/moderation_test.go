package moderation_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/heraldev/herald/blog/moderation"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/store"
)

func TestDecideRejectsBannedWordsIgnoringCase(t *testing.T) {
	def, err := moderation.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	fruit, err := moderation.New([]string{"Durian", "kiwi"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		m       *moderation.Moderator
		content string
		want    string
	}{
		{def, "nice post", event.StatusApproved},
		{def, "I like orange juice", event.StatusRejected},
		{def, "ORANGE", event.StatusRejected},
		{def, "Oranges", event.StatusRejected}, // a substring, like the tutorial's includes()
		{def, "or ange", event.StatusApproved},
		{fruit, "orange", event.StatusApproved},
		{fruit, "DURIAN", event.StatusRejected},
		{fruit, "kiwis", event.StatusRejected},
	} {
		if got := c.m.Decide(c.content); got != c.want {
			t.Errorf("Decide(%q) = %s, want %s", c.content, got, c.want)
		}
	}
	if _, err := moderation.New([]string{"ok", ""}); err == nil {
		t.Error("an empty banned word was accepted; it would reject every comment")
	}
}

func TestOnlyPendingCommentsAreDecided(t *testing.T) {
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"), moderation.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := moderation.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{event.StatusApproved, event.StatusRejected, event.StatusPending} {
		e, err := event.New("/test", event.CommentCreated, "c", 0, event.CommentData{ID: "c-" + status, PostID: "p", Content: "orange", Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.InTx(context.Background(), db, func(tx *sql.Tx) error { return m.Apply(context.Background(), tx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var payload []byte
	if err := db.QueryRow(`SELECT count(*), max(payload) FROM outbox`).Scan(&n, &payload); err != nil {
		t.Fatal(err)
	}
	d, err := event.Parse(payload)
	if err != nil {
		t.Fatal(err)
	}
	c, err := event.Decode[event.CommentData](d)
	if n != 1 || err != nil || d.Type != event.CommentModerated || c.ID != "c-pending" || c.Status != event.StatusRejected || d.EntityVersion != 2 {
		t.Fatalf("outbox holds %d events, the last %s v%d %+v (%v); want one CommentModerated v2 rejecting c-pending", n, d.Type, d.EntityVersion, c, err)
	}
	if pending, _ := outbox.Pending(context.Background(), db); pending != 1 {
		t.Fatalf("outbox.Pending = %d, want 1", pending)
	}
}
