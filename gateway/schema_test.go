package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// TestPostedEventsOfAKnownTypeMustMatchItsSchema: the data of an event of
// a type the gateway knows is checked against the JSON Schema its owner
// serves at GET /events/schemas. A good event is stored; one that breaks
// the schema is refused with a 422 naming, for each violation, its JSON
// Pointer into the posted body and the schema rule, and nothing is
// stored. The pointer follows the shape: under /data for a tutorial or
// structured event, at the root for a binary-mode one, whose body is the
// data. Types the gateway does not know pass as before.
func TestPostedEventsOfAKnownTypeMustMatchItsSchema(t *testing.T) {
	e := newEnv(t)
	tut := func(typ, data string) string { return `{"type":"` + typ + `","data":` + data + `}` }
	structured := func(typ, data string) string {
		return `{"specversion":"1.0","id":"` + event.NewID() + `","source":"/elsewhere","type":"` + typ + `","data":` + data + `}`
	}
	const comment = `{"id":"c1","postId":"p1","content":"Nice post","status":"pending"}`
	binary := map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-source": "/bin", "ce-type": event.CommentCreated}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		code    int
		pointer string // the violation the problem must list
		rule    string
	}{
		{"good tutorial post", nil, tut(event.PostCreated, `{"id":"p1","title":"Hello"}`), 200, "", ""},
		{"good structured comment", jsonCT("application/cloudevents+json"), structured(event.CommentCreated, comment), 200, "", ""},
		{"good binary comment", binary, comment, 200, "", ""},
		{"an unknown type, any data", nil, tut("ReviewWritten", `{"stars":"many","x":[1]}`), 200, "", ""},
		{"missing title", nil, tut(event.PostCreated, `{"id":"p1"}`), 422, "/data/title", "required"},
		{"empty title", nil, tut(event.PostCreated, `{"id":"p1","title":""}`), 422, "/data/title", "minLength"},
		{"title a number", nil, tut(event.PostCreated, `{"id":"p1","title":7}`), 422, "/data/title", "type"},
		{"id null", nil, tut(event.PostCreated, `{"id":null,"title":"t"}`), 422, "/data/id", "type"},
		{"an unknown field", nil, tut(event.PostCreated, `{"id":"p1","title":"t","author":"me"}`), 422, "/data/author", "additionalProperties"},
		{"a status not in the enum", nil, tut(event.CommentModerated, `{"id":"c","postId":"p","content":"x","status":"maybe"}`), 422, "/data/status", "enum"},
		{"structured, missing postId", jsonCT("application/cloudevents+json"), structured(event.CommentCreated, `{"id":"c1","content":"x","status":"pending"}`), 422, "/data/postId", "required"},
		{"structured, data an array", jsonCT("application/cloudevents+json"), structured(event.CommentUpdated, `[1]`), 422, "/data", "type"},
		{"structured, no data", jsonCT("application/cloudevents+json"), `{"specversion":"1.0","id":"x1","source":"/s","type":"PostCreated"}`, 422, "/data", "type"},
		{"binary, empty content", binary, `{"id":"c1","postId":"p1","content":"","status":"pending"}`, 422, "/content", "minLength"},
		{"a field name needing escapes", nil, tut(event.PostCreated, `{"id":"p1","title":"t","a/b~c":1}`), 422, "/data/a~1b~0c", "additionalProperties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			headers := tc.headers
			if headers == nil {
				headers = jsonCT("application/json")
			}
			if _, ok := headers["ce-specversion"]; ok {
				headers = map[string]string{"ce-id": event.NewID()}
				for k, v := range tc.headers {
					headers[k] = v
				}
			}
			before := e.lastSeq()
			a := send(t, "POST", e.url("/events"), headers, tc.body)
			if a.code != tc.code {
				t.Fatalf("status %s, want %d", a, tc.code)
			}
			if tc.code == http.StatusOK {
				if after := e.lastSeq(); after != before+1 {
					t.Errorf("the stream moved from %d to %d, want one event more", before, after)
				}
				return
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
				Errors []struct {
					Pointer, Rule, Message string
				} `json:"errors"`
			}
			if err := json.Unmarshal(a.body, &p); err != nil || p.Status != tc.code {
				t.Fatalf("problem %s (%v)", a.body, err)
			}
			found := false
			for _, v := range p.Errors {
				if v.Pointer == tc.pointer && v.Rule == tc.rule && v.Message != "" {
					found = true
				}
			}
			if !found || !strings.Contains(p.Detail, tc.pointer+": "+tc.rule) || !strings.Contains(p.Detail, catalogue.SchemasPath) {
				t.Errorf("problem %s does not name %s and %s", a.body, tc.pointer, tc.rule)
			}
			if after := e.lastSeq(); after != before {
				t.Errorf("the stream moved from %d to %d", before, after)
			}
		})
	}
}

// TestTheGatewayServesTheSchemasItValidatesAgainst: GET /events/schemas
// on the gateway lists the types it takes from outside, each with the
// schema a posted event of it must match.
func TestTheGatewayServesTheSchemasItValidatesAgainst(t *testing.T) {
	e := newEnv(t)
	a := send(t, "GET", e.url(catalogue.SchemasPath), nil, "")
	if a.code != http.StatusOK {
		t.Fatalf("GET %s: %s", catalogue.SchemasPath, a)
	}
	var got catalogue.EventSchemas
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, es := range got.Events {
		types = append(types, es.Type)
		var s struct {
			Required []string `json:"required"`
		}
		if err := json.Unmarshal(es.Schema, &s); err != nil || len(s.Required) == 0 {
			t.Errorf("%s: schema %s (%v)", es.Type, es.Schema, err)
		}
	}
	if want := "CommentCreated CommentModerated CommentUpdated PostCreated"; strings.Join(types, " ") != want {
		t.Errorf("the gateway serves the schemas of %v, want %s", types, want)
	}
}
