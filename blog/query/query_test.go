package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/blog/query"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/store"
)

func newQuery(t testing.TB) (*query.Service, *sql.DB) {
	t.Helper()
	db, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "q.db"), query.Migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return query.New(db), db
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ev returns an event of type typ at version (0 as from an outside service)
// with time t0 + at milliseconds.
func ev(t testing.TB, typ string, version int64, at int, data any) event.Envelope {
	t.Helper()
	e, err := event.New("/test", typ, "", version, data)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = t0.Add(time.Duration(at) * time.Millisecond)
	return e
}

func post(id, title string) event.PostData { return event.PostData{ID: id, Title: title} }

func comment(id, postID, content, status string) event.CommentData {
	return event.CommentData{ID: id, PostID: postID, Content: content, Status: status}
}

// apply applies es, in order, in one transaction.
func apply(t testing.TB, db *sql.DB, es ...event.Envelope) {
	t.Helper()
	if err := store.InTx(context.Background(), db, func(tx *sql.Tx) error {
		for _, e := range es {
			if err := query.Apply(context.Background(), tx, e); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// answer renders the service's answer compactly:
// "p1 title [c1 content approved, ...]; p2 ...", posts by id.
func answer(t testing.TB, q *query.Service) string {
	t.Helper()
	ps, err := q.Posts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, id := range slices.Sorted(maps.Keys(ps)) {
		p := ps[id]
		if p.ID != id || p.Comments == nil {
			t.Fatalf("post %q: id %q, comments %#v; want its own id and a non-nil list", id, p.ID, p.Comments)
		}
		var cs []string
		for _, c := range p.Comments {
			cs = append(cs, c.ID+" "+c.Content+" "+c.Status)
		}
		out = append(out, fmt.Sprintf("%s %s [%s]", p.ID, p.Title, strings.Join(cs, ", ")))
	}
	return strings.Join(out, "; ")
}

// dump renders the whole read model, every column, in a stable order.
func dump(t testing.TB, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT id, title, version, event_us, event_id FROM posts ORDER BY id`,
		`SELECT id, post_id, content, status, version, event_us, event_id, created_us, created_seen FROM comments ORDER BY id`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

// permutations calls f with every ordering of es.
func permutations(es []event.Envelope, f func([]event.Envelope)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(es) {
			f(es)
			return
		}
		for i := k; i < len(es); i++ {
			es[k], es[i] = es[i], es[k]
			rec(k + 1)
			es[k], es[i] = es[i], es[k]
		}
	}
	rec(0)
}

func TestEveryArrivalOrderWithDuplicatesGivesTheSameReadModel(t *testing.T) {
	q, db := newQuery(t)
	history := []event.Envelope{
		ev(t, event.PostCreated, 1, 0, post("p1", "first")),
		ev(t, event.CommentCreated, 1, 1, comment("c1", "p1", "nice post", event.StatusPending)),
		ev(t, event.CommentUpdated, 2, 5, comment("c1", "p1", "nice post", event.StatusApproved)),
		// An outside service's comment: its events carry no version, and
		// its update's clock is behind its creation's. The update still
		// wins, and the creation still sets the order.
		ev(t, event.CommentCreated, 0, 3, comment("c2", "p1", "orange", event.StatusPending)),
		ev(t, event.CommentUpdated, 0, -1, comment("c2", "p1", "orange", event.StatusRejected)),
	}
	const want = "p1 first [c1 nice post approved, c2 orange rejected]"

	var first string
	n := 0
	permutations(history, func(es []event.Envelope) {
		n++
		if _, err := db.Exec(`DELETE FROM posts; DELETE FROM comments`); err != nil {
			t.Fatal(err)
		}
		// Every event, then every event again backwards: a duplicate
		// changes nothing. One transaction per order keeps this fast.
		backwards := slices.Clone(es)
		slices.Reverse(backwards)
		apply(t, db, slices.Concat(es, backwards)...)
		order := make([]string, len(es))
		for i, e := range es {
			order[i] = e.Type + "/" + e.Subject
		}
		if got := answer(t, q); got != want {
			t.Fatalf("order %v: answer %s, want %s", order, got, want)
		}
		d := dump(t, db)
		if first == "" {
			first = d
		} else if d != first {
			t.Fatalf("order %v: read model\n%s\ndiffers from the first order's\n%s", order, d, first)
		}
	})
	if n != 120 {
		t.Fatalf("%d orders tried, want 120", n)
	}
}

func TestUpdateBeforeCreateKeepsTheNewerStatusAndTakesTheCreationTime(t *testing.T) {
	q, db := newQuery(t)
	apply(t, db,
		ev(t, event.PostCreated, 1, 0, post("p1", "first")),
		ev(t, event.CommentCreated, 1, 1, comment("c2", "p1", "early", event.StatusPending)),
		ev(t, event.CommentUpdated, 2, 10, comment("c1", "p1", "late", event.StatusApproved)),
	)
	// c1's row was made by its update, at 10ms: after c2.
	if got, want := answer(t, q), "p1 first [c2 early pending, c1 late approved]"; got != want {
		t.Fatalf("before c1's creation: %s, want %s", got, want)
	}
	apply(t, db, ev(t, event.CommentCreated, 1, 0, comment("c1", "p1", "late", event.StatusPending)))
	// c1 was created at 0ms: it now sorts first, and stays approved.
	if got, want := answer(t, q), "p1 first [c1 late approved, c2 early pending]"; got != want {
		t.Fatalf("after c1's creation: %s, want %s", got, want)
	}
}

func TestStaleEventChangesNothing(t *testing.T) {
	q, db := newQuery(t)
	apply(t, db,
		ev(t, event.PostCreated, 1, 0, post("p1", "first")),
		ev(t, event.CommentUpdated, 3, 3, comment("c1", "p1", "x", event.StatusRejected)),
		ev(t, event.CommentUpdated, 2, 9, comment("c1", "p1", "x", event.StatusApproved)), // later, but older
		ev(t, event.CommentCreated, 1, 1, comment("c1", "p1", "x", event.StatusPending)),
	)
	if got, want := answer(t, q), "p1 first [c1 x rejected]"; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}
}

func TestOutsideEventsWithoutVersionsAreOrderedByTime(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		q, db := newQuery(t)
		es := []event.Envelope{
			ev(t, event.PostCreated, 0, 0, post("p1", "first")),
			ev(t, event.CommentUpdated, 0, 5, comment("c1", "p1", "x", event.StatusApproved)),
			ev(t, event.CommentUpdated, 0, 7, comment("c1", "p1", "x", event.StatusRejected)),
		}
		for _, i := range order {
			apply(t, db, es[i])
		}
		if got, want := answer(t, q), "p1 first [c1 x rejected]"; got != want {
			t.Fatalf("order %v: answer %s, want %s (the later update wins)", order, got, want)
		}
	}
}

func TestCommentWaitsInvisiblyForItsPost(t *testing.T) {
	q, db := newQuery(t)
	apply(t, db, ev(t, event.CommentCreated, 1, 1, comment("c1", "p1", "hi", event.StatusPending)))
	if got := answer(t, q); got != "" {
		t.Fatalf("before the post: %q, want no posts", got)
	}
	apply(t, db, ev(t, event.PostCreated, 1, 0, post("p1", "first")), ev(t, event.PostCreated, 1, 0, post("p2", "second")))
	if got, want := answer(t, q), "p1 first [c1 hi pending]; p2 second []"; got != want {
		t.Fatalf("after the post: %s, want %s", got, want)
	}
}
