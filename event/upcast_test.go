package event_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldev/herald/event"
)

// A thing's three versions, to show that upcasts compose.
type thingV1 struct {
	ID int64 `json:"id"`
}

func (d thingV1) Validate() error { return nil }

type thingV2 struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func (d thingV2) Validate() error {
	if d.Name == "" {
		return errors.New("name must not be empty")
	}
	return nil
}

type thingV3 struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

func (d thingV3) Validate() error { return nil }

var (
	thingV3Def = event.Define[thingV3]("test.thing.made.v3", "")
	thingV2Def = event.DefineUpcast("test.thing.made.v2", "", thingV3Def, func(d thingV2) thingV3 {
		return thingV3{ID: d.ID, Name: d.Name, Color: "grey"}
	})
	thingV1Def = event.DefineUpcast("test.thing.made.v1", "", thingV2Def, func(d thingV1) thingV2 {
		return thingV2{ID: d.ID, Name: "thing " + strings.Repeat("i", int(d.ID))}
	})
)

// TestUpcastsCompose: with v1 → v2 → v3, a stored v1 event and a stored
// v2 event are both read as v3, each step's defaults filled in.
func TestUpcastsCompose(t *testing.T) {
	reg := event.NewRegistry(thingV1Def, thingV2Def, thingV3Def)
	for typ, want := range map[string]thingV3{
		"test.thing.made.v1": {ID: 2, Name: "thing ii", Color: "grey"},
		"test.thing.made.v2": {ID: 2, Name: "two", Color: "grey"},
		"test.thing.made.v3": {ID: 2, Name: "two", Color: "red"},
	} {
		data := map[string]string{
			"test.thing.made.v1": `{"id":2}`,
			"test.thing.made.v2": `{"id":2,"name":"two"}`,
			"test.thing.made.v3": `{"id":2,"name":"two","color":"red"}`,
		}[typ]
		e, err := reg.Checked(event.Envelope{ID: "x", Type: typ, EntityVersion: 4, Data: []byte(data)})
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		d, err := event.Decode[thingV3](e)
		if e.Type != "test.thing.made.v3" || e.ID != "x" || e.EntityVersion != 4 || err != nil || d != want {
			t.Errorf("%s read as %s %+v, %v; want test.thing.made.v3 %+v", typ, e.Type, d, err, want)
		}
	}
	if thingV1Def.ReadAs().Type != "test.thing.made.v3" {
		t.Errorf("v1 reads as %s, want v3", thingV1Def.ReadAs().Type)
	}
}

// TestAnUpcastWhoseResultBreaksTheNewerRulesIsRefused names both types.
func TestAnUpcastWhoseResultBreaksTheNewerRulesIsRefused(t *testing.T) {
	careless := event.DefineUpcast("test.thing.made.v1", "", thingV2Def, func(d thingV1) thingV2 { return thingV2{ID: d.ID} })
	_, err := event.NewRegistry(careless).Checked(event.Envelope{Type: careless.Type, Data: []byte(`{"id":1}`)})
	if !errors.Is(err, event.ErrInvalidData) || !strings.Contains(err.Error(), "test.thing.made.v1 upcast to test.thing.made.v2") ||
		!strings.Contains(err.Error(), "name must not be empty") {
		t.Fatalf("err = %v, want ErrInvalidData naming both types and the rule", err)
	}
}

// TestAnUpcastToAnotherPayloadIsAProblem: an upcaster whose result is not
// the newer type's payload cannot work; the Def says so, and events of it
// are refused.
func TestAnUpcastToAnotherPayloadIsAProblem(t *testing.T) {
	wrong := event.DefineUpcast("test.thing.made.v1", "", thingV3Def, func(d thingV1) thingV2 { return thingV2{ID: d.ID, Name: "x"} })
	if err := wrong.Problem(); err == nil || !strings.Contains(err.Error(), "test.thing.made.v3") {
		t.Fatalf("Problem() = %v, want one naming test.thing.made.v3", err)
	}
	if _, err := event.NewRegistry(wrong).Checked(event.Envelope{Type: wrong.Type, Data: []byte(`{"id":1}`)}); !errors.Is(err, event.ErrInvalidData) {
		t.Fatalf("Checked: %v, want ErrInvalidData", err)
	}
}
