package gateway

import (
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// TutorialEvent documents the tutorial's event shape.
type TutorialEvent struct {
	Type string         `json:"type" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.-]+$" doc:"Event type, e.g. PostCreated; letters, digits, '_', '-' and '.'"`
	Data map[string]any `json:"data" doc:"The event's data; known blog types (PostCreated, CommentCreated, CommentModerated, CommentUpdated) must match their schema"`
}

// CloudEvent documents a structured-mode CloudEvent as Herald stores it.
type CloudEvent struct {
	_               struct{}   `json:"-" additionalProperties:"true"`
	SpecVersion     string     `json:"specversion" enum:"1.0"`
	ID              string     `json:"id" minLength:"1" doc:"Event id; a retry with the same id within 2 minutes is stored once"`
	Source          string     `json:"source" minLength:"1"`
	Type            string     `json:"type" minLength:"1" maxLength:"128" pattern:"^[A-Za-z0-9_.-]+$"`
	Subject         string     `json:"subject,omitempty"`
	Time            *time.Time `json:"time,omitempty"`
	DataContentType string     `json:"datacontenttype,omitempty"`
	Data            any        `json:"data,omitempty"`
	EntityVersion   int64      `json:"entityversion,omitempty" minimum:"0"`
}

// accepted documents POST /events' answer.
type accepted struct {
	Status string `json:"status" enum:"OK"`
}

// documentEvents describes POST and GET /events, which plain handlers
// serve, in api's OpenAPI document.
func documentEvents(api huma.API) {
	oapi := api.OpenAPI()
	reg := oapi.Components.Schemas
	schema := func(v any) *huma.Schema { return reg.Schema(reflect.TypeOf(v), true, "") }
	problem := map[string]*huma.MediaType{"application/problem+json": {Schema: schema(huma.ErrorModel{})}}
	fail := func(code int, why string) *huma.Response {
		return &huma.Response{Description: http.StatusText(code) + ": " + why, Content: problem}
	}
	header := func(doc string, s *huma.Schema) *huma.Param { return &huma.Param{Description: doc, Schema: s} }
	integer := &huma.Schema{Type: huma.TypeInteger, Minimum: ptr(0.0)}
	str := &huma.Schema{Type: huma.TypeString}
	anyEvent := &huma.Schema{AnyOf: []*huma.Schema{schema(TutorialEvent{}), schema(CloudEvent{})}}

	oapi.AddOperation(&huma.Operation{
		OperationID: "post-event", Method: http.MethodPost, Path: "/events", Summary: "Publish an event",
		Description: "Stores the event on the blog's durable stream and answers only once it is stored. Takes the tutorial's " +
			"{type, data} (application/json), a structured CloudEvent (application/cloudevents+json, or application/json with " +
			"specversion), or a binary-mode CloudEvent (ce-specversion, ce-id, ce-source, ce-type headers, optional ce-subject, " +
			"ce-time, ce-entityversion and other ce-* extensions, the JSON body as data). Batches are not supported.",
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json":             {Schema: anyEvent},
			"application/cloudevents+json": {Schema: schema(CloudEvent{})},
		}},
		Responses: map[string]*huma.Response{
			"200": {Description: "Stored", Content: map[string]*huma.MediaType{"application/json": {Schema: schema(accepted{})}},
				Headers: map[string]*huma.Param{
					HeaderEventID:  header("The stored event's id", str),
					HeaderPosition: header("The stored event's position in the stream", integer),
				}},
			"400": fail(400, "malformed JSON or header"),
			"413": fail(413, "the event is over "+strconv.Itoa(1<<20)+" bytes"),
			"415": fail(415, "not one of the accepted content types, or a batch"),
			"422": {Description: http.StatusText(422) + ": the event breaks a rule; the detail says which. Data of a known type that " +
				"does not match the type's JSON Schema (GET /events/schemas) is refused with each violation in errors: its JSON Pointer " +
				"into the posted body and the rule broken.", Content: map[string]*huma.MediaType{"application/problem+json": {
				Schema: &huma.Schema{AnyOf: []*huma.Schema{schema(huma.ErrorModel{}), schema(SchemaProblem{})}}}}},
			"503": fail(503, "the bus did not store the event (or the stream is full); retry"),
		},
	})
	oapi.AddOperation(&huma.Operation{
		OperationID: "list-events", Method: http.MethodGet, Path: "/events", Summary: "Every past event",
		Description: "Every blog event in stream order, each in the shape it was posted in (tutorial events as {type, data}, " +
			"others as the stored CloudEvent). Without limit the whole history is streamed; with limit one page is answered, " +
			"with a Link rel=\"next\" when it is full.",
		Parameters: []*huma.Param{
			{Name: "after", In: "query", Description: "Answer only events after this stream position (an earlier answer's " + HeaderLastPosition + ")", Schema: integer},
			{Name: "limit", In: "query", Description: "At most this many events; leave out for all",
				Schema: &huma.Schema{Type: huma.TypeInteger, Minimum: ptr(1.0), Maximum: ptr(float64(MaxLimit))}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "The events", Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: huma.TypeArray, Items: anyEvent}}},
				Headers: map[string]*huma.Param{
					HeaderLastPosition: header("The stream position this answer covers up to; pass it as after to read on", integer),
					"Link":             header(`</events?after=P&limit=N>; rel="next" when the page is full`, str),
				}},
			"400": fail(400, "after or limit is not a whole number"),
			"422": fail(422, "limit is out of range"),
			"503": fail(503, "the bus cannot be read; retry"),
		},
	})
}

func ptr[T any](v T) *T { return &v }
