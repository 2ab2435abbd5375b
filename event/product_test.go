package event_test

import (
	"errors"
	"testing"

	"github.com/heraldev/herald/event"
)

// Two v1 product events exactly as the products service wrote them before
// products had a price (event.New, then Encode, through the outbox).
const (
	storedV1Created = `{"specversion":"1.0","id":"01a24ee2-03e7-791f-9bd0-0df115602d27","source":"/shop/products","type":"shop.product.created.v1","subject":"5","time":"2026-12-07T05:02:44.711257Z","datacontenttype":"application/json","data":{"id":5,"title":"pants","image":"pants.jpeg"},"entityversion":1}`
	storedV1Updated = `{"specversion":"1.0","id":"01a24ee2-03e7-77ba-b0e6-883efdc53c73","source":"/shop/products","type":"shop.product.updated.v1","subject":"5","time":"2026-12-07T05:02:44.711077Z","datacontenttype":"application/json","data":{"id":5,"title":"jeans","image":"pants.jpeg"},"entityversion":2,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`
)

// TestStoredV1ProductEventsAreReadAsV2: a consumer that names the v1 and
// v2 Defs receives a stored v1 event as v2: its type is the v2 type, its
// data the v2 payload with v1's default price (0 EUR), decoded and
// encoded; everything else about the event is as stored.
func TestStoredV1ProductEventsAreReadAsV2(t *testing.T) {
	for _, tc := range []struct {
		raw, want string
		data      event.ProductDataV2
	}{
		{storedV1Created, event.ProductCreatedV2, event.ProductDataV2{ID: 5, Title: "pants", Image: "pants.jpeg", Price: 0, Currency: "EUR"}},
		{storedV1Updated, event.ProductUpdatedV2, event.ProductDataV2{ID: 5, Title: "jeans", Image: "pants.jpeg", Price: 0, Currency: "EUR"}},
	} {
		stored, err := event.Parse([]byte(tc.raw))
		if err != nil {
			t.Fatal(err)
		}
		e, err := shopRegistry().Checked(stored)
		if err != nil {
			t.Fatalf("%s: %v", stored.Type, err)
		}
		if e.Type != tc.want {
			t.Errorf("%s read as type %s, want %s", stored.Type, e.Type, tc.want)
		}
		if e.ID != stored.ID || e.Source != stored.Source || e.Subject != stored.Subject || !e.Time.Equal(stored.Time) ||
			e.EntityVersion != stored.EntityVersion || e.TraceParent != stored.TraceParent || e.DataContentType != stored.DataContentType {
			t.Errorf("%s: upcasting changed the event's attributes: stored %+v, read %+v", stored.Type, stored, e)
		}
		d, err := event.Decode[event.ProductDataV2](e)
		if err != nil || d != tc.data {
			t.Errorf("%s: data %+v, %v; want %+v", stored.Type, d, err, tc.data)
		}
		// Data is the v2 payload too, for whatever reads the envelope's JSON.
		reread, err := event.Decode[event.ProductDataV2](event.Envelope{Type: e.Type, Data: e.Data})
		if err != nil || reread != tc.data {
			t.Errorf("%s: encoded data %s decodes to %+v, %v; want %+v", stored.Type, e.Data, reread, err, tc.data)
		}
	}
}

// TestV2EventsAreReadAsStored: the newest version passes through as it is.
func TestV2EventsAreReadAsStored(t *testing.T) {
	want := event.ProductDataV2{ID: 9, Title: "lamp", Image: "lamp.png", Price: 1999, Currency: "USD"}
	stored, err := event.New("/shop/products", event.ProductCreatedV2, "9", 1, want)
	if err != nil {
		t.Fatal(err)
	}
	e, err := shopRegistry().Checked(stored)
	if err != nil {
		t.Fatal(err)
	}
	d, err := event.Decode[event.ProductDataV2](e)
	if e.Type != event.ProductCreatedV2 || string(e.Data) != string(stored.Data) || err != nil || d != want {
		t.Fatalf("read %s %s as %+v, %v; want it as stored", e.Type, e.Data, d, err)
	}
}

// TestAStoredV1EventIsCheckedByV1RulesBeforeUpcasting: what v1 refused
// stays refused: a v1 event is validated as v1 first.
func TestAStoredV1EventIsCheckedByV1RulesBeforeUpcasting(t *testing.T) {
	for name, data := range map[string]string{
		"a price in a v1 event": `{"id":5,"title":"t","image":"i","price":3}`,
		"an empty title":        `{"id":5,"title":"","image":"i"}`,
		"no id":                 `{"title":"t","image":"i"}`,
	} {
		e := event.Envelope{Type: event.ProductCreated, Data: []byte(data)}
		if _, err := shopRegistry().Checked(e); !errors.Is(err, event.ErrInvalidData) {
			t.Errorf("%s: %v, want ErrInvalidData", name, err)
		}
	}
}

// TestV2RulesRefuseANegativePriceAndAMalformedCurrency.
func TestV2RulesRefuseANegativePriceAndAMalformedCurrency(t *testing.T) {
	for name, data := range map[string]string{
		"negative price":      `{"id":5,"title":"t","image":"i","price":-1,"currency":"EUR"}`,
		"lower-case currency": `{"id":5,"title":"t","image":"i","price":1,"currency":"eur"}`,
		"four letters":        `{"id":5,"title":"t","image":"i","price":1,"currency":"EURO"}`,
		"no currency":         `{"id":5,"title":"t","image":"i","price":1}`,
		"a fractional price":  `{"id":5,"title":"t","image":"i","price":19.99,"currency":"EUR"}`,
	} {
		e := event.Envelope{Type: event.ProductCreatedV2, Data: []byte(data)}
		if _, err := shopRegistry().Checked(e); !errors.Is(err, event.ErrInvalidData) {
			t.Errorf("%s: %v, want ErrInvalidData", name, err)
		}
	}
}

// TestTheV1DefsSayWhatTheyAreReadAs: the v1 Defs are deprecated and read
// as v2, on the same subject; the v2 Defs are current.
func TestTheV1DefsSayWhatTheyAreReadAs(t *testing.T) {
	for _, tc := range []struct {
		v1 event.Def
		v2 string
	}{{event.ProductCreatedDef, event.ProductCreatedV2}, {event.ProductUpdatedDef, event.ProductUpdatedV2}} {
		v1, v2 := tc.v1, tc.v2
		to, ok := v1.Upcast()
		if !ok || to.Type != v2 || v1.ReadAs().Type != v2 || !v1.Deprecated() || v1.Problem() != nil || to.Subject() != v1.Subject() {
			t.Errorf("%s: upcast %v %s, read as %s, deprecated %v, problem %v", v1.Type, ok, to.Type, v1.ReadAs().Type, v1.Deprecated(), v1.Problem())
		}
	}
	if event.ProductCreatedV2Def.Deprecated() || event.ProductCreatedV2Def.ReadAs().Type != event.ProductCreatedV2 {
		t.Error("v2 is not the current version")
	}
}
