package gateway_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldev/herald/event"
)

// TestInvalidEventsAreRefusedAndNothingIsStored posts every kind of bad event
// and checks each gets the right problem, naming what is wrong, while the
// stream stays exactly as it was.
func TestInvalidEventsAreRefusedAndNothingIsStored(t *testing.T) {
	e := newEnv(t)
	e.postEvent(tutorial("before"))
	ce := func(ct string) map[string]string { return jsonCT(ct) }
	binary := func(drop string) map[string]string {
		h := map[string]string{"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "b1", "ce-source": "/bin", "ce-type": "X"}
		delete(h, drop)
		return h
	}
	big := `{"type":"X","data":{"s":"` + strings.Repeat("a", event.MaxSize) + `"}}`
	nearlyBig := `{"type":"X","data":{"s":"` + strings.Repeat("a", event.MaxSize-40) + `"}}` // fits; its CloudEvent does not
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		code    int
		says    string
	}{
		{"no type", ce("application/json"), `{"data":{}}`, 422, "type is required"},
		{"empty type", ce("application/json"), `{"type":"","data":{}}`, 422, "type must not be empty"},
		{"blank type", ce("application/json"), `{"type":"  ","data":{}}`, 422, "type must not be empty"},
		{"type with a space", ce("application/json"), `{"type":"Post Created","data":{}}`, 422, "may hold only"},
		{"type with a wildcard", ce("application/json"), `{"type":"blog.>","data":{}}`, 422, "may hold only"},
		{"type with an empty part", ce("application/json"), `{"type":"a..b","data":{}}`, 422, "empty part"},
		{"type not a string", ce("application/json"), `{"type":7,"data":{}}`, 422, "type must be a string"},
		{"type too long", ce("application/json"), `{"type":"` + strings.Repeat("a", 129) + `","data":{}}`, 422, "limit is 128"},
		{"data not an object", ce("application/json"), `{"type":"X","data":[1]}`, 422, "data must be a JSON object"},
		{"data a string", ce("application/json"), `{"type":"X","data":"hi"}`, 422, "data must be a JSON object"},
		{"data null", ce("application/json"), `{"type":"X","data":null}`, 422, "data must be a JSON object"},
		{"data missing", ce("application/json"), `{"type":"X"}`, 422, "data is required"},
		{"extra field", ce("application/json"), `{"type":"X","data":{},"id":"1"}`, 422, `unexpected field "id"`},
		{"body an array", ce("application/json"), `[{"type":"X","data":{}}]`, 422, "must be a JSON object"},
		{"malformed JSON", ce("application/json"), `{"type":"X","data":{}`, 400, "not valid JSON"},
		{"trailing garbage", ce("application/json"), `{"type":"X","data":{}} x`, 400, "not valid JSON"},
		{"empty body", ce("application/json"), ``, 400, "empty"},
		{"body over the limit", ce("application/json"), big, 413, "limit"},
		{"stored event over the limit", ce("application/json"), nearlyBig, 413, "limit"},
		{"wrong content type", ce("text/plain"), `{"type":"X","data":{}}`, 415, "application/cloudevents+json"},
		{"form content type", ce("application/x-www-form-urlencoded"), `type=X`, 415, "not accepted"},
		{"unparsable content type", ce("application/json; ="), `{"type":"X","data":{}}`, 415, "cannot be parsed"},
		{"batch", ce("application/cloudevents-batch+json"), `[]`, 415, "not supported"},
		{"known type with invalid data", ce("application/json"), `{"type":"PostCreated","data":{"id":"p1"}}`, 422, "title"},
		{"known type with an unknown field", ce("application/json"), `{"type":"PostCreated","data":{"id":"p1","title":"t","x":1}}`, 422, "unknown field"},
		{"comment with a bad status", ce("application/json"), `{"type":"CommentModerated","data":{"id":"c","postId":"p","content":"x","status":"maybe"}}`, 422, "status"},
		{"CloudEvent missing id", ce("application/cloudevents+json"), `{"specversion":"1.0","source":"/s","type":"X"}`, 422, "id"},
		{"CloudEvent missing source", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","type":"X"}`, 422, "source"},
		{"CloudEvent missing type", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","source":"/s"}`, 422, "type"},
		{"CloudEvent missing specversion", ce("application/cloudevents+json"), `{"id":"1","source":"/s","type":"X"}`, 422, "specversion"},
		{"CloudEvent wrong specversion", ce("application/json"), `{"specversion":"0.3","id":"1","source":"/s","type":"X"}`, 422, "specversion"},
		{"CloudEvent with a bad type", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","source":"/s","type":"a b"}`, 422, "may hold only"},
		{"CloudEvent with an upper-case attribute", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","ID":"2","source":"/s","type":"X"}`, 422, "lowercase"},
		{"CloudEvent with base64 data", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","source":"/s","type":"X","data_base64":"AA=="}`, 422, "data_base64"},
		{"CloudEvent with a bad time", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","source":"/s","type":"X","time":"yesterday"}`, 422, "time"},
		{"CloudEvent known type invalid data", ce("application/cloudevents+json"), `{"specversion":"1.0","id":"1","source":"/s","type":"PostCreated","data":{"id":"p"}}`, 422, "title"},
		{"CloudEvent malformed", ce("application/cloudevents+json"), `{"specversion":"1.0",`, 400, "not valid JSON"},
		{"binary missing ce-id", binary("ce-id"), `{}`, 422, "id"},
		{"binary missing ce-source", binary("ce-source"), `{}`, 422, "source"},
		{"binary missing ce-type", binary("ce-type"), `{}`, 422, "type"},
		{"binary non-JSON body", binary(""), `not json`, 400, "not valid JSON"},
		{"binary non-JSON content type", func() map[string]string { h := binary(""); h["Content-Type"] = "text/plain"; return h }(), `hi`, 415, "must be JSON"},
		{"binary entityversion not an integer", func() map[string]string { h := binary(""); h["ce-entityversion"] = "two"; return h }(), `{}`, 422, "integer"},
		{"binary bad percent-encoding", func() map[string]string { h := binary(""); h["ce-subject"] = "%zz"; return h }(), `{}`, 400, "percent-encoded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.lastSeq()
			a := send(t, "POST", e.url("/events"), tc.headers, tc.body)
			if a.code != tc.code {
				t.Fatalf("status %s, want %d", a, tc.code)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p struct {
				Status int    `json:"status"`
				Detail string `json:"detail"`
			}
			if err := json.Unmarshal(a.body, &p); err != nil || p.Status != tc.code || !strings.Contains(p.Detail, tc.says) {
				t.Errorf("problem %s does not say %q", a.body, tc.says)
			}
			if after := e.lastSeq(); after != before {
				t.Errorf("the stream moved from %d to %d", before, after)
			}
		})
	}
	if a := send(t, "PUT", e.url("/events"), nil, ""); a.code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /events: %s", a)
	}
}
