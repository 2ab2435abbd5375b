package catalogue

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/heraldev/herald/event"
)

// JSONSchemaDialect is the JSON Schema version of the schemas DataSchema
// returns (the one Huma generates, as OpenAPI 3.1 does).
const JSONSchemaDialect = "https://json-schema.org/draft/2020-12/schema"

// schemaGen generates the JSON Schemas of event payloads from their Go
// types with Huma's registry. It is the one generator behind the AsyncAPI
// documents (refs into #/components/schemas/) and GET /events/schemas and
// the gateway's validation (DataSchema: refs into #/$defs/).
type schemaGen struct {
	reg huma.Registry
}

func newSchemaGen(prefix string) *schemaGen {
	return &schemaGen{reg: huma.NewMapRegistry(prefix, huma.DefaultSchemaNamer)}
}

// of returns the schema of d's data: a $ref into the generator's registry
// if ref is set, the schema itself otherwise. Huma panics on two Go types
// of one name; of returns that as an error.
func (g *schemaGen) of(d event.Def, ref bool) (s *huma.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("payload schema of %s (%v): %v", d.Type, d.Payload, r)
		}
	}()
	if d.Payload == nil {
		return nil, fmt.Errorf("event type %s has no payload type; define it with event.Define", d.Type)
	}
	return g.reg.Schema(d.Payload, ref, typeHint(d.Payload, d.Type)), nil
}

func typeHint(t reflect.Type, typ string) string {
	if t.Name() != "" {
		return t.Name()
	}
	return strings.NewReplacer(".", "", "-", "", "_", "").Replace(typ) + "Data"
}

// DataSchema returns the JSON Schema (2020-12) of the data of events of
// type d, generated from its Go payload type: a self-contained document
// (any nested type under "$defs"), whose description is d's Doc, marked
// deprecated if d is (see event.Def.Deprecated). It is what GET
// /events/schemas serves and the gateway validates posted events against.
func DataSchema(d event.Def) (json.RawMessage, error) {
	g := newSchemaGen("#/$defs/")
	s, err := g.of(d, false)
	if err != nil {
		return nil, err
	}
	top := *s // the registry's own schema is shared by every type with this payload
	top.Description = d.Doc
	top.Deprecated = d.Deprecated()
	raw, err := json.Marshal(&top)
	if err != nil {
		return nil, fmt.Errorf("payload schema of %s: %w", d.Type, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("payload schema of %s: %w", d.Type, err)
	}
	doc["$schema"] = JSONSchemaDialect
	if defs := g.reg.Map(); len(defs) > 1 { // more than the payload's own type
		doc["$defs"] = defs
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("payload schema of %s: %w", d.Type, err)
	}
	return out, nil
}

// EventSchema is one event type in a service's GET /events/schemas.
type EventSchema struct {
	Type    string `json:"type" doc:"The CloudEvents type"`
	Version int    `json:"version" doc:"The version its name ends with"`
	Subject string `json:"subject" doc:"The NATS subject it travels on"`
	Doc     string `json:"doc" doc:"What it records"`
	// Deprecated and ReadAs: a type superseded by a newer version, whose
	// stored events every consumer reads as ReadAs.
	Deprecated bool   `json:"deprecated,omitempty"`
	ReadAs     string `json:"readAs,omitempty" doc:"The type it is upcast to on read"`
	Note       string `json:"note,omitempty" doc:"For a deprecated type: \"upcast to <type> on read\""`
	// Schema is the JSON Schema of its data (see DataSchema).
	Schema json.RawMessage `json:"schema"`
}

// EventSchemas is a service's GET /events/schemas answer.
type EventSchemas struct {
	App     string        `json:"app"`
	Service string        `json:"service"`
	Dialect string        `json:"dialect" doc:"The JSON Schema version of every schema"`
	Events  []EventSchema `json:"events" doc:"Sorted by type"`
}

// Schemas returns the schemas of the event types app's service s
// publishes: those it owns (every version, deprecated ones marked), and,
// for a service that relays events from outside, the app's types it takes
// from outside (External). A service that publishes nothing has none.
func Schemas(app App, s Service) (EventSchemas, error) {
	out := EventSchemas{App: app.Name, Service: s.Name, Dialect: JSONSchemaDialect, Events: []EventSchema{}}
	defs := slices.Clone(s.Publishes)
	reg := app.Registry()
	for _, typ := range s.External {
		if d, ok := reg.Def(typ); ok {
			defs = append(defs, d)
		}
	}
	seen := map[string]bool{}
	for _, d := range defs {
		if seen[d.Type] {
			continue
		}
		seen[d.Type] = true
		schema, err := DataSchema(d)
		if err != nil {
			return EventSchemas{}, fmt.Errorf("schemas of %s: %w", s.Name, err)
		}
		es := EventSchema{Type: d.Type, Version: d.Version(), Subject: d.Subject(), Doc: d.Doc, Schema: schema}
		if d.Deprecated() {
			es.Deprecated, es.ReadAs, es.Note = true, d.ReadAs().Type, upcastNote(d)
		}
		out.Events = append(out.Events, es)
	}
	slices.SortFunc(out.Events, func(a, b EventSchema) int { return strings.Compare(a.Type, b.Type) })
	return out, nil
}

// upcastNote says what a deprecated type's events are read as.
func upcastNote(d event.Def) string {
	return "upcast to " + d.ReadAs().Type + " on read"
}
