package jetstream

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReplicaPlanNeverOffersFewerThanTheStreamHasUnlessExplicit(t *testing.T) {
	for _, c := range []struct {
		explicit, existing int
		want               []int
	}{
		{0, 0, []int{3, 1}}, // new stream: 3 if the cluster can place them, else 1
		{0, 1, []int{3, 1}}, // raised to 3 once the cluster can, else kept
		{0, 2, []int{3, 2}},
		{0, 3, []int{3}}, // never lowered, even if the cluster cannot place 3 now
		{0, 5, []int{5}},
		{1, 0, []int{1}},
		{1, 3, []int{1}}, // an operator's decision, even lowering
		{3, 1, []int{3}},
		{5, 3, []int{5}},
	} {
		if got := replicaPlan(c.explicit, c.existing); !slices.Equal(got, c.want) {
			t.Errorf("replicaPlan(explicit %d, existing %d) = %v, want %v", c.explicit, c.existing, got, c.want)
		}
	}
}

func TestAutomaticReplicasOnASingleServerAreOne(t *testing.T) {
	ts := startTestServer(t)
	b, logs := (&testCluster{urls: []string{"nats://" + ts.addr}}).dial(t, Options{})
	ensure(t, b, "SOLO", "solo.>")
	for _, stream := range []string{"SOLO", DLQStream} {
		if got := streamInfo(t, b, stream).Config.Replicas; got != 1 {
			t.Fatalf("%s has %d replicas on a single server, want 1", stream, got)
		}
	}
	if !strings.Contains(logs.String(), `level=INFO msg="stream replicas" stream=SOLO replicas=1 why="automatic: the NATS server is not clustered"`) {
		t.Errorf("the choice of 1 replica is not logged with its reason:\n%s", logs)
	}

	// An explicit count is applied exactly, so a single server refuses 3.
	three, _ := (&testCluster{urls: []string{"nats://" + ts.addr}}).dial(t, Options{Replicas: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := three.EnsureStream(ctx, "SOLO", "solo.>"); err == nil || !strings.Contains(err.Error(), "with 3 replicas") {
		t.Fatalf("explicit 3 replicas on a single server: %v, want a refusal naming 3 replicas", err)
	}
}

func TestNewRefusesAnImpossibleReplicaCount(t *testing.T) {
	ts := startTestServer(t)
	_, nc := ts.dial(t)
	for _, r := range []int{-1, 6} {
		if _, err := New(nc, Options{Replicas: r}); err == nil {
			t.Errorf("New with %d replicas succeeded, want an error", r)
		}
	}
}
