package event_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldev/herald/event"
)

func TestNewIDIsAUUIDv7(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := event.NewID()
		if !re.MatchString(id) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

func TestSubjectDropsTheVersion(t *testing.T) {
	for typ, want := range map[string]string{
		event.OrderCreated:   "shop.order.created",
		event.ProductUpdated: "shop.product.updated",
		"shop.odd":           "shop.odd",
	} {
		if got := event.Subject(typ); got != want {
			t.Errorf("Subject(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e, err := event.New("/shop/orders", event.OrderCreated, "4", 1, event.OrderData{ID: 4, UserID: 1, ProductID: 5})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, attr := range []string{`"specversion":"1.0"`, `"type":"shop.order.created.v1"`, `"source":"/shop/orders"`, `"subject":"4"`, `"entityversion":1`, `"datacontenttype":"application/json"`} {
		if !strings.Contains(string(raw), attr) {
			t.Errorf("encoded event lacks %s: %s", attr, raw)
		}
	}
	back, err := event.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := event.Decode[event.OrderData](back)
	if err != nil || d != (event.OrderData{ID: 4, UserID: 1, ProductID: 5}) || back.ID != e.ID {
		t.Fatalf("round trip: %+v %+v %v", back, d, err)
	}
}

func TestParseRefusesMalformedEvents(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":         `{"id":`,
		"trailing data":    `{"specversion":"1.0","id":"1","source":"/s","type":"t"} {}`,
		"missing id":       `{"specversion":"1.0","source":"/s","type":"t"}`,
		"missing type":     `{"specversion":"1.0","id":"1","source":"/s"}`,
		"blank source":     `{"specversion":"1.0","id":"1","source":"  ","type":"t"}`,
		"wrong version":    `{"specversion":"0.3","id":"1","source":"/s","type":"t"}`,
		"negative version": `{"specversion":"1.0","id":"1","source":"/s","type":"t","entityversion":-1}`,
		"array":            `[]`,
		"too large":        `{"data":"` + strings.Repeat("x", event.MaxSize) + `"}`,
	} {
		if _, err := event.Parse([]byte(raw)); !errors.Is(err, event.ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestRegistryRefusesUnknownTypesAndInvalidData(t *testing.T) {
	reg := shopRegistry()
	valid := event.Envelope{Type: event.ProductCreated, Data: []byte(`{"id":1,"title":"t","image":"i"}`)}
	if err := reg.Validate(valid); err != nil {
		t.Fatalf("valid event refused: %v", err)
	}
	if err := reg.Validate(event.Envelope{Type: "shop.product.created.v9", Data: valid.Data}); !errors.Is(err, event.ErrUnknownType) {
		t.Errorf("unknown version: %v, want ErrUnknownType", err)
	}
	for name, data := range map[string]string{
		"unknown field": `{"id":1,"title":"t","image":"i","x":1}`,
		"missing title": `{"id":1,"image":"i"}`,
		"zero id":       `{"id":0,"title":"t","image":"i"}`,
		"wrong type":    `{"id":"1","title":"t","image":"i"}`,
		"trailing":      `{"id":1,"title":"t","image":"i"} 1`,
		"not json":      `{`,
	} {
		if err := reg.Validate(event.Envelope{Type: event.ProductCreated, Data: []byte(data)}); !errors.Is(err, event.ErrInvalidData) {
			t.Errorf("%s: %v, want ErrInvalidData", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	e, _ := event.New("/shop/users", event.UserCreated, "1", 1, event.UserCreatedData{ID: 1, Name: "a", Email: "a@b"})
	raw, _ := e.Encode()
	f.Add(raw)
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"shop.order.created.v1","data":{"id":1,"userId":1,"productId":1}}`))
	f.Add([]byte(`{}`))
	reg := shopRegistry()
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.Parse(b)
		if err != nil {
			if !errors.Is(err, event.ErrMalformed) {
				t.Fatalf("Parse error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if err := reg.Validate(e); err != nil && !errors.Is(err, event.ErrUnknownType) && !errors.Is(err, event.ErrInvalidData) {
			t.Fatalf("Validate error of unknown kind: %v", err)
		}
	})
}

// TestDecodeOfACheckedEnvelopeReturnsWhatCheckedDecoded: consumers decode an
// event's data once, when the registry checks it.
func TestDecodeOfACheckedEnvelopeReturnsWhatCheckedDecoded(t *testing.T) {
	e, err := event.New("/shop/orders", event.OrderCreated, "1", 1, event.OrderData{ID: 1, UserID: 2, ProductID: 3})
	if err != nil {
		t.Fatal(err)
	}
	checked, err := shopRegistry().Checked(e)
	if err != nil {
		t.Fatal(err)
	}
	checked.Data = []byte(`not JSON`) // Decode must not look at it again
	d, err := event.Decode[event.OrderData](checked)
	if err != nil || d != (event.OrderData{ID: 1, UserID: 2, ProductID: 3}) {
		t.Fatalf("Decode of a checked envelope = %+v, %v; want the data Checked decoded", d, err)
	}
	e.Data = []byte(`not JSON`)
	if _, err := event.Decode[event.OrderData](e); err == nil {
		t.Fatal("Decode of an unchecked envelope did not decode its data")
	}
}

// shopRegistry is a registry of the shop's event types.
func shopRegistry() *event.Registry {
	return event.NewRegistry(event.UserCreatedDef, event.ProductCreatedDef, event.ProductUpdatedDef,
		event.ProductCreatedV2Def, event.ProductUpdatedV2Def, event.OrderCreatedDef, event.OrderCancelledDef)
}

// TestSubjectAndVersionFollowFromTheTypeName: a versioned type travels on
// its name without the version, so a subject carries every version; a type
// in the tutorial's naming, without dots, is a blog event.
func TestSubjectAndVersionFollowFromTheTypeName(t *testing.T) {
	for _, tc := range []struct {
		typ, subject string
		version      int
	}{
		{"shop.order.created.v1", "shop.order.created", 1},
		{"shop.order.created.v12", "shop.order.created", 12},
		{"PostCreated", "blog.event.PostCreated", 1},
		{"shop.order.created", "shop.order.created", 1},
		{"shop.order.created.v0", "shop.order.created", 0},
		{"shop.order.created.v01", "shop.order.created", 0},
		{"shop.order.created.vx", "shop.order.created", 0},
	} {
		if got := event.Subject(tc.typ); got != tc.subject {
			t.Errorf("Subject(%q) = %q, want %q", tc.typ, got, tc.subject)
		}
		if got := event.Version(tc.typ); got != tc.version {
			t.Errorf("Version(%q) = %d, want %d", tc.typ, got, tc.version)
		}
	}
}
