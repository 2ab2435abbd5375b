package service

import (
	"reflect"
	"testing"

	"github.com/heraldev/herald/outbox"
)

func TestTokenRoundTripsAnyTypeAndID(t *testing.T) {
	events := []outbox.EmittedEvent{
		{Type: "shop.order.created.v1", ID: "01a24cc5-c4d1-7dc9-b0d9-4560d4fd840e"},
		{Type: "Post:Created,odd", ID: "tutorial id:1,2"},
	}
	token := Token(events)
	got, err := ParseToken(token)
	if err != nil || !reflect.DeepEqual(got, events) {
		t.Fatalf("ParseToken(Token(%v)) = %v, %v (token %q)", events, got, err, token)
	}
	if want := "shop.order.created.v1:01a24cc5-c4d1-7dc9-b0d9-4560d4fd840e"; Token(events[:1]) != want {
		t.Errorf("Token = %q, want the plain %q for a plain type and id", Token(events[:1]), want)
	}
	for _, bad := range []string{"", "nocolon", ":id", "type:", "a:b,,c:d", "%zz:id"} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted it", bad)
		}
	}
}

func TestFreshnessRemembersRecentIDsWithinItsBound(t *testing.T) {
	f := newFreshness(nil)
	for i := range recentIDs + 10 {
		id := string(rune('a'+i%26)) + string(rune(i))
		f.begin([]string{id})
		f.end([]string{id}, true)
	}
	if len(f.recent) != recentIDs {
		t.Fatalf("freshness remembers %d ids, want at most %d", len(f.recent), recentIDs)
	}
	f.begin([]string{"failed"})
	f.end([]string{"failed"}, false)
	if _, ok := f.recent["failed"]; ok || len(f.committing) != 0 {
		t.Fatalf("a failed transaction's id is remembered as applied, or still committing: %v", f.committing)
	}
}
