package outbox

import (
	"testing"

	"github.com/heraldev/herald/event"
)

// TestEntityOf: the entity of an encoded event is its source and subject,
// however the members are ordered and whatever the data holds; one it
// cannot read is an entity of its own.
func TestEntityOf(t *testing.T) {
	ev, err := event.New("/shop/orders", "shop.order.created.v1", "42", 1, map[string]any{"subject": "not this", "source": "nor this", "n": []int{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, payload, want string
	}{
		{"encoded by Herald", string(encoded), "/shop/orders 42"},
		{"data first", `{"data":{"subject":"x","source":"y"},"id":"1","subject":"7","source":"/s"}`, "/s 7"},
		{"no source", `{"subject":"7"}`, " 7"},
		{"no subject", `{"source":"/s","data":{}}`, `{"source":"/s","data":{}}`},
		{"not an object", `[1,2]`, `[1,2]`},
		{"broken", `{"source":`, `{"source":`},
		{"subject not a string", `{"source":"/s","subject":7}`, `{"source":"/s","subject":7}`},
	} {
		if got, _ := entityOf([]byte(c.payload)); got != c.want {
			t.Errorf("%s: entityOf = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestEntityOfReadsTheEventsTraceParent(t *testing.T) {
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	entity, got := entityOf([]byte(`{"source":"/s","subject":"7","traceparent":"` + tp + `"}`))
	if entity != "/s 7" || got != tp {
		t.Errorf("entityOf = %q, %q; want %q, %q", entity, got, "/s 7", tp)
	}
}
