package shop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldev/herald/shop"
)

// TestQueryReplicasEachKeepTheWholeView: named query replicas in one data
// dir each keep their own read model and durable consumer, so each receives
// every event; one added after the history builds itself from it.
func TestQueryReplicasEachKeepTheWholeView(t *testing.T) {
	e := newEnv(t)
	s := e.startAll()
	a := e.start("query", withReplica("a"))
	want := shopHistory(t, s)
	waitViews(t, s["query"], want)
	waitViews(t, a, want)

	late := e.start("query", withReplica("late"))
	waitViews(t, late, want)
	for _, f := range []string{"shop-query.db", "shop-query-a.db", "shop-query-late.db"} {
		if _, err := os.Stat(filepath.Join(e.dir, f)); err != nil {
			t.Errorf("replica read model: %v", err)
		}
	}
	nc, err := e.srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"shop-query", "shop-query-a", "shop-query-late"} {
		if _, err := js.Consumer(t.Context(), shop.Stream, name); err != nil {
			t.Errorf("durable consumer %s: %v", name, err)
		}
	}
}

func TestReplicaNameThatCannotNameAConsumerIsRefused(t *testing.T) {
	for _, bad := range []string{"a b", "a.b", "a>", string(make([]byte, 65))} {
		_, err := shop.Build(t.Context(), "query", shop.Config{DataDir: t.TempDir(), Replica: bad}, nil)
		if err == nil || !strings.Contains(err.Error(), "replica name") {
			t.Errorf("replica %q: %v, want an error about the replica name", bad, err)
		}
	}
}
