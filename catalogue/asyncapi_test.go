package catalogue_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/blog"
	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/service"
	"github.com/heraldev/herald/shop"
)

func heraldApps() catalogue.Catalogue {
	return catalogue.Catalogue{shop.App(), blog.App(blog.Options{})}
}

// asyncDoc is the part of an AsyncAPI document the tests read.
type asyncDoc struct {
	AsyncAPI string `json:"asyncapi"`
	Channels map[string]struct {
		Address  string `json:"address"`
		Messages map[string]struct {
			Ref string `json:"$ref"`
		} `json:"messages"`
	} `json:"channels"`
	Operations map[string]struct {
		Action  string `json:"action"`
		Channel struct {
			Ref string `json:"$ref"`
		} `json:"channel"`
		Messages []struct {
			Ref string `json:"$ref"`
		} `json:"messages"`
		Service string `json:"x-herald-service"`
	} `json:"operations"`
	Components struct {
		Messages map[string]struct {
			Payload struct {
				Properties struct {
					Type struct {
						Const string `json:"const"`
					} `json:"type"`
					Data struct {
						Ref string `json:"$ref"`
					} `json:"data"`
				} `json:"properties"`
			} `json:"payload"`
		} `json:"messages"`
		Schemas map[string]struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		} `json:"schemas"`
	} `json:"components"`
}

func parseDoc(t *testing.T, raw []byte) asyncDoc {
	t.Helper()
	var d asyncDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("AsyncAPI document is not JSON: %v", err)
	}
	return d
}

// jsonFields returns the JSON names of struct type t's fields.
func jsonFields(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// TestEveryEventTypeIsInItsAppsAsyncAPIDocumentWithItsSchema: each type an
// app's services own has its message, on a channel at its subject, whose
// payload names the type and whose data schema has the Go payload's fields,
// all required.
func TestEveryEventTypeIsInItsAppsAsyncAPIDocumentWithItsSchema(t *testing.T) {
	for _, app := range heraldApps() {
		raw, err := catalogue.AsyncAPI(app, "")
		if err != nil {
			t.Fatal(err)
		}
		d := parseDoc(t, raw)
		if d.AsyncAPI != catalogue.AsyncAPIVersion {
			t.Fatalf("%s: asyncapi %q", app.Name, d.AsyncAPI)
		}
		defs := app.Registry().Defs()
		if len(defs) == 0 {
			t.Fatalf("%s registers no event types", app.Name)
		}
		for _, def := range defs {
			m, ok := d.Components.Messages[def.Type]
			if !ok {
				t.Errorf("%s: no message %s", app.Name, def.Type)
				continue
			}
			if m.Payload.Properties.Type.Const != def.Type {
				t.Errorf("%s: payload type %q", def.Type, m.Payload.Properties.Type.Const)
			}
			schema, ok := d.Components.Schemas[strings.TrimPrefix(m.Payload.Properties.Data.Ref, "#/components/schemas/")]
			if !ok {
				t.Errorf("%s: data %q is not a schema of the document", def.Type, m.Payload.Properties.Data.Ref)
				continue
			}
			var props []string
			for p := range schema.Properties {
				props = append(props, p)
			}
			slices.Sort(props)
			required := slices.Sorted(slices.Values(schema.Required))
			if want := jsonFields(def.Payload); !slices.Equal(props, want) || !slices.Equal(required, want) {
				t.Errorf("%s: schema properties %v, required %v; want %v (the fields of %v)", def.Type, props, required, want, def.Payload)
			}
			ch, ok := d.Channels[def.Subject()]
			if !ok || ch.Address != def.Subject() {
				t.Errorf("%s: no channel at %s", def.Type, def.Subject())
			} else if _, ok := ch.Messages[def.Type]; !ok {
				t.Errorf("%s: channel %s does not carry it", def.Type, def.Subject())
			}
		}
	}
}

// TestEachServiceServesItsOwnPartOfTheAsyncAPIDocument runs every service
// of the shop and the blog and reads /asyncapi.json from each: it is
// AsyncAPI(app, service), with a send for every event type the service
// owns, a receive for every subject its consumers receive, and nothing of
// any other service.
func TestEachServiceServesItsOwnPartOfTheAsyncAPIDocument(t *testing.T) {
	cat := heraldApps()
	targets, err := cat.Resolve(nil)
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
	for i, tg := range running.Targets {
		s := tg.Service
		code, _, raw := testenv.Send(t, "GET", running.Services[i].URL()+"/asyncapi.json", "", nil)
		want, err := catalogue.AsyncAPI(tg.App, s.Name)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusOK || !bytes.Equal(raw, want) {
			t.Errorf("%s /asyncapi.json: status %d, and it is not AsyncAPI(%s, %s)", s.Name, code, tg.App.Name, s.Name)
			continue
		}
		d := parseDoc(t, raw)
		ops := map[string]bool{}
		for id, op := range d.Operations {
			if op.Service != s.Name {
				t.Errorf("%s's document has %s's operation %s", s.Name, op.Service, id)
			}
			ops[op.Action+" "+d.Channels[strings.TrimPrefix(op.Channel.Ref, "#/channels/")].Address] = true
		}
		for _, def := range s.Publishes {
			if !ops["send "+def.Subject()] {
				t.Errorf("%s's document does not send %s on %s: %v", s.Name, def.Type, def.Subject(), ops)
			}
		}
		for _, c := range s.Consumes {
			for _, def := range c.Events {
				if !ops["receive "+def.Subject()] {
					t.Errorf("%s's document does not receive %s: %v", s.Name, def.Subject(), ops)
				}
			}
		}
	}
}

// TestAsyncAPIDocumentsPassTheOfficialParser checks every document (each
// app's and each service's part) with @asyncapi/parser, via node and
// testdata/asyncapi/validate.mjs: none may have an error or a warning.
// .ci/run installs the parser (npm ci in testdata/asyncapi) and sets
// HERALD_TEST_ASYNCAPI_REQUIRED, so there a missing parser fails the test;
// elsewhere it skips, saying how to install it.
func TestAsyncAPIDocumentsPassTheOfficialParser(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "asyncapi"))
	if err != nil {
		t.Fatal(err)
	}
	_, nodeErr := exec.LookPath("node")
	_, parserErr := os.Stat(filepath.Join(dir, "node_modules", "@asyncapi", "parser"))
	if nodeErr != nil || parserErr != nil {
		msg := "needs node and @asyncapi/parser: run `npm ci --prefix catalogue/testdata/asyncapi` (node: " + errText(nodeErr) + "; parser: " + errText(parserErr) + ")"
		if os.Getenv("HERALD_TEST_ASYNCAPI_REQUIRED") != "" {
			t.Fatal(msg)
		}
		t.Skip("skipped: " + msg)
	}
	out := t.TempDir()
	var files []string
	for _, app := range heraldApps() {
		for _, name := range append([]string{""}, app.Names()...) {
			raw, err := catalogue.AsyncAPI(app, name)
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(out, app.Name+"-"+name+".json")
			if err := os.WriteFile(f, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "validate.mjs")}, files...)...)
	cmd.Dir = dir
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the official parser refused a document: %v\n%s", err, res)
	}
	t.Logf("%s", res)
}

func errText(err error) string {
	if err == nil {
		return "found"
	}
	return err.Error()
}

// TestBothVersionsOfAnEventAreInTheAsyncAPIDocument: the shop's document
// has v1 and v2 of the product events on one channel each, v1 marked
// deprecated and naming the type it is read as, and products' send
// operations carry both.
func TestBothVersionsOfAnEventAreInTheAsyncAPIDocument(t *testing.T) {
	raw, err := catalogue.AsyncAPI(shop.App(), "products")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Channels map[string]struct {
			Messages map[string]any `json:"messages"`
		} `json:"channels"`
		Operations map[string]struct {
			Summary  string `json:"summary"`
			Messages []struct {
				Ref string `json:"$ref"`
			} `json:"messages"`
		} `json:"operations"`
		Components struct {
			Messages map[string]struct {
				Description string `json:"description"`
				ReadAs      string `json:"x-herald-read-as"`
				Payload     struct {
					Deprecated bool `json:"deprecated"`
				} `json:"payload"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{event.ProductCreated, event.ProductCreatedV2}, {event.ProductUpdated, event.ProductUpdatedV2}} {
		v1, v2 := d.Components.Messages[pair[0]], d.Components.Messages[pair[1]]
		if !v1.Payload.Deprecated || v1.ReadAs != pair[1] || !strings.Contains(v1.Description, "upcast to "+pair[1]+" on read") {
			t.Errorf("%s: deprecated %v, read as %q, description %q", pair[0], v1.Payload.Deprecated, v1.ReadAs, v1.Description)
		}
		if v2.Payload.Deprecated || v2.ReadAs != "" {
			t.Errorf("%s is marked deprecated", pair[1])
		}
		subject := event.Subject(pair[1])
		if ms := d.Channels[subject].Messages; len(ms) != 2 || ms[pair[0]] == nil || ms[pair[1]] == nil {
			t.Errorf("channel %s carries %v, want both versions", subject, ms)
		}
		op := d.Operations["products.send."+subject]
		if len(op.Messages) != 2 || !strings.Contains(op.Summary, "publishes "+pair[1]+" ") {
			t.Errorf("products.send.%s: %d messages, summary %q", subject, len(op.Messages), op.Summary)
		}
	}
}
