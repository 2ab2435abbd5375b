package catalogue_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/gateway"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

// dataSchema is the part of a data schema the tests read.
type dataSchema struct {
	Schema               string                    `json:"$schema"`
	Type                 string                    `json:"type"`
	Description          string                    `json:"description"`
	Deprecated           bool                      `json:"deprecated"`
	AdditionalProperties *bool                     `json:"additionalProperties"`
	Required             []string                  `json:"required"`
	Properties           map[string]map[string]any `json:"properties"`
}

// TestProductsServesTheSchemasOfBothVersions: products' GET
// /events/schemas has v1 and v2 of both product events, generated from
// their Go payloads, v1 marked deprecated and read as v2, and v2 with the
// price's and the currency's rules.
func TestProductsServesTheSchemasOfBothVersions(t *testing.T) {
	cat := catalogue.Catalogue{shop.App()}
	targets, err := cat.Resolve([]string{"products"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := testenv.NewNATS(t, filepath.Join(dir, "nats"))
	running, err := catalogue.Start(t.Context(), n.Bus, targets, func(catalogue.Target) service.Config {
		return service.Config{DataDir: dir, Addr: "127.0.0.1:0", AckWait: 5 * time.Second}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Stop(t.Context()) })

	code, h, raw := testenv.Send(t, "GET", running.Services[0].URL()+catalogue.SchemasPath, "", nil) // no token: it is public
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s: %d %s: %.300s", catalogue.SchemasPath, code, h.Get("Content-Type"), raw)
	}
	var got catalogue.EventSchemas
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Service != "products" || got.App != "shop" || got.Dialect != catalogue.JSONSchemaDialect {
		t.Errorf("answer is about %s of %s in %s", got.Service, got.App, got.Dialect)
	}
	var types []string
	for _, es := range got.Events {
		types = append(types, es.Type)
	}
	want := []string{event.ProductCreated, event.ProductCreatedV2, event.ProductUpdated, event.ProductUpdatedV2}
	if !slices.Equal(types, want) {
		t.Fatalf("types %v, want %v", types, want)
	}
	for _, es := range got.Events {
		var s dataSchema
		if err := json.Unmarshal(es.Schema, &s); err != nil {
			t.Fatalf("%s: schema %s: %v", es.Type, es.Schema, err)
		}
		props := slices.Sorted(maps.Keys(s.Properties))
		if s.Schema != catalogue.JSONSchemaDialect || s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties || s.Description != es.Doc {
			t.Errorf("%s: schema %s", es.Type, es.Schema)
		}
		switch es.Version {
		case 1:
			readAs := strings.Replace(es.Type, ".v1", ".v2", 1)
			if !es.Deprecated || !s.Deprecated || es.ReadAs != readAs || es.Note != "upcast to "+readAs+" on read" {
				t.Errorf("%s: deprecated %v (schema %v), read as %q, note %q; want deprecated, read as %s", es.Type, es.Deprecated, s.Deprecated, es.ReadAs, es.Note, readAs)
			}
			if !slices.Equal(props, []string{"id", "image", "title"}) {
				t.Errorf("%s: properties %v", es.Type, props)
			}
		case 2:
			if es.Deprecated || s.Deprecated || es.ReadAs != "" {
				t.Errorf("%s is deprecated", es.Type)
			}
			if !slices.Equal(props, []string{"currency", "id", "image", "price", "title"}) || len(s.Required) != 5 {
				t.Errorf("%s: properties %v, required %v", es.Type, props, s.Required)
			}
			if s.Properties["price"]["minimum"] != 0.0 || s.Properties["price"]["type"] != "integer" || s.Properties["currency"]["pattern"] != "^[A-Z]{3}$" {
				t.Errorf("%s: price %v, currency %v", es.Type, s.Properties["price"], s.Properties["currency"])
			}
		default:
			t.Errorf("%s: version %d", es.Type, es.Version)
		}
	}
}

// TestEachServiceServesTheSchemasOfWhatItPublishes: a service's schemas
// are those of the types it owns, and, for the gateway, of the types it
// takes from outside; a service that publishes nothing serves an empty
// list.
func TestEachServiceServesTheSchemasOfWhatItPublishes(t *testing.T) {
	shopApp := shop.App()
	blogApp := blog.App(blog.Options{Gateway: gateway.Config{External: []string{event.PostCreated}}})
	for _, tc := range []struct {
		app     catalogue.App
		service string
		want    []string
	}{
		{shopApp, "users", []string{event.UserCreated}},
		{shopApp, "orders", []string{event.OrderCancelled, event.OrderCreated}},
		{shopApp, "query", []string{}},
		{blogApp, "comments", []string{event.CommentCreated, event.CommentUpdated}},
		{blogApp, "gateway", []string{event.PostCreated}},
	} {
		s, _ := tc.app.Service(tc.service)
		got, err := catalogue.Schemas(tc.app, s)
		if err != nil {
			t.Fatal(err)
		}
		types := []string{}
		for _, es := range got.Events {
			types = append(types, es.Type)
			if !json.Valid(es.Schema) || es.Deprecated {
				t.Errorf("%s: %s: schema %s, deprecated %v", tc.service, es.Type, es.Schema, es.Deprecated)
			}
		}
		if !slices.Equal(types, tc.want) {
			t.Errorf("%s serves the schemas of %v, want %v", tc.service, types, tc.want)
		}
	}
}
