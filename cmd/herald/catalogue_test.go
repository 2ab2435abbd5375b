package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/heraldev/herald/catalogue"
)

// TestCatalogueCommandListsEveryEventWithItsOwnerAndConsumers: the text
// names every event type of both apps on a line with its owner and each
// consumer's durable name; --json says the same as data; --asyncapi prints
// one app's document and refuses without an app.
func TestCatalogueCommandListsEveryEventWithItsOwnerAndConsumers(t *testing.T) {
	run := func(c catalogueCmd) (string, error) {
		var out bytes.Buffer
		err := (&Main{Log: slog.New(slog.DiscardHandler), Out: &out}).Catalogue(c)
		return out.String(), err
	}
	text, err := run(catalogueCmd{})
	if err != nil {
		t.Fatal(err)
	}
	d := apps(serviceFlags{}).Describe()
	for _, a := range d.Apps {
		for _, e := range a.Events {
			line := lineWith(text, e.Type)
			for _, want := range append([]string{e.Subject, e.Owner}, consumerNames(e.Consumers)...) {
				if !strings.Contains(line, want) {
					t.Errorf("the line of %s (%q) does not name %s", e.Type, line, want)
				}
			}
		}
	}
	if line := lineWith(text, "shop.user.created.v1"); !strings.Contains(line, "orders (shop-orders)") || !strings.Contains(line, "query (shop-query)") {
		t.Errorf("shop.user.created.v1: %q, want orders (shop-orders) and query (shop-query)", line)
	}

	raw, err := run(catalogueCmd{App: "blog", JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var got catalogue.Description
	if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got.Apps) != 1 || got.Apps[0].Name != "blog" || len(got.Apps[0].Events) != 4 {
		t.Fatalf("--json blog: %v; %.300s", err, raw)
	}

	doc, err := run(catalogueCmd{App: "shop", AsyncAPI: true})
	if err != nil || !strings.Contains(doc, `"asyncapi": "3.0.0"`) {
		t.Fatalf("--asyncapi shop: %v; %.200s", err, doc)
	}
	if _, err := run(catalogueCmd{AsyncAPI: true}); err == nil || !strings.Contains(err.Error(), "shop, blog") {
		t.Errorf("--asyncapi without an app: %v, want an error naming the apps", err)
	}
	if _, err := run(catalogueCmd{App: "shoop"}); err == nil || !strings.Contains(err.Error(), "shop, blog") {
		t.Errorf("unknown app: %v, want an error naming the apps", err)
	}
}

func lineWith(text, word string) string {
	for line := range strings.Lines(text) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == word {
			return line
		}
	}
	return ""
}

func consumerNames(cs []catalogue.ConsumerInfo) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.String())
	}
	return names
}
