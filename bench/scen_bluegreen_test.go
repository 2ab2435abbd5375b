package bench

import (
	"testing"

	"github.com/heraldev/herald/event"
)

// TestCompleteUsersCountsTheUsersWholeInTheFirstEvents checks, against
// the events themselves, that the users completeUsers counts have every
// event among the first n, and the next one does not.
func TestCompleteUsersCountsTheUsersWholeInTheFirstEvents(t *testing.T) {
	d := ForEvents(2, 5000, 100)
	all := map[int64]int{}
	if err := d.Events(0, func(e event.Envelope) error { all[userOf(t, e)]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 101, 2000, 5000, d.EventCount()} {
		first := map[int64]int{}
		if err := d.Events(n, func(e event.Envelope) error { first[userOf(t, e)]++; return nil }); err != nil {
			t.Fatal(err)
		}
		k := int64(completeUsers(d, n))
		for u := int64(1); u <= k; u++ {
			if first[u] != all[u] {
				t.Errorf("n=%d: user %d of %d complete has %d of its %d events", n, u, k, first[u], all[u])
			}
		}
		if k < int64(d.Users) && first[k+1] == all[k+1] {
			t.Errorf("n=%d: user %d has all %d events, but completeUsers says %d", n, k+1, all[k+1], k)
		}
	}
}

// userOf returns the user an event is about (0 for a product's).
func userOf(t *testing.T, e event.Envelope) int64 {
	t.Helper()
	switch e.Type {
	case event.UserCreated:
		d, err := event.Decode[event.UserCreatedData](e)
		if err != nil {
			t.Fatal(err)
		}
		return d.ID
	case event.OrderCreated, event.OrderCancelled:
		d, err := event.Decode[event.OrderData](e)
		if err != nil {
			t.Fatal(err)
		}
		return d.UserID
	}
	return 0
}
