package gateway

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/httpapi"
)

// The shapes an event can be posted in. The shape is stored with the event
// (header HeaderShape) so GET /events returns it the way it came.
const (
	shapeTutorial   = "tutorial"   // {"type": ..., "data": {...}}
	shapeStructured = "structured" // CloudEvents structured mode
	shapeBinary     = "binary"     // CloudEvents binary mode: ce-* headers, data as body
)

// incoming is an event POST /events accepted: checked, and encoded as the
// structured CloudEvent the bus stores.
type incoming struct {
	shape  string
	env    event.Envelope
	stored []byte
}

// rejection is why POST /events refused an event, with its HTTP status,
// and, for data that breaks its type's schema, each way it does.
type rejection struct {
	status     int
	detail     string
	violations []Violation
}

func (r *rejection) Error() string { return r.detail }

// write answers r as a problem: with "errors", each violation's pointer,
// rule and message (RFC 9457's extension member), if it has any.
func (r *rejection) write(w http.ResponseWriter) {
	if len(r.violations) == 0 {
		httpapi.WriteProblem(w, r.status, r.detail)
		return
	}
	w.Header().Del("X-Content-Type-Options") // as httpapi.WriteProblem
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(r.status)
	_ = json.NewEncoder(w).Encode(SchemaProblem{http.StatusText(r.status), r.status, r.detail, r.violations})
}

func reject(status int, format string, args ...any) *rejection {
	return &rejection{status: status, detail: fmt.Sprintf(format, args...)}
}

const acceptedShapes = "send {\"type\", \"data\"} as application/json, a structured CloudEvent as application/cloudevents+json, or a binary-mode CloudEvent with ce-* headers and a JSON body"

// decode reads the event posted in r and checks it. Every error is a
// *rejection: 415 for a content type it does not take, 413 for a body or
// event over event.MaxSize, 400 for malformed JSON or headers, 422 for an
// event that breaks a rule. The data of a type the gateway knows (reg)
// must match its JSON Schema (sch; the 422 lists each violation with its
// JSON Pointer into the body and the rule it breaks) and then its Go
// payload's rules. Types reg does not know pass: other services' events.
func decode(r *http.Request, reg *event.Registry, sch schemas) (incoming, error) {
	mt := ""
	if ct := r.Header.Get("Content-Type"); ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return incoming{}, reject(http.StatusUnsupportedMediaType, "Content-Type %q cannot be parsed: %v; %s", ct, err, acceptedShapes)
		}
	}
	binary := r.Header.Get("ce-specversion") != ""
	switch {
	case binary && (mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json")):
	case binary:
		return incoming{}, reject(http.StatusUnsupportedMediaType, "a binary-mode CloudEvent's data must be JSON (Content-Type: application/json), not %s", mt)
	case mt == "application/cloudevents-batch+json":
		return incoming{}, reject(http.StatusUnsupportedMediaType, "batched CloudEvents are not supported; post each event on its own as application/cloudevents+json")
	case mt == "" || mt == "application/json" || mt == "application/cloudevents+json":
	default:
		return incoming{}, reject(http.StatusUnsupportedMediaType, "Content-Type %s is not accepted; %s", mt, acceptedShapes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, event.MaxSize+1))
	if err != nil {
		return incoming{}, reject(http.StatusBadRequest, "reading the body failed: %v", err)
	}
	if len(body) > event.MaxSize {
		return incoming{}, reject(http.StatusRequestEntityTooLarge, "the body is over the %d byte limit for an event", event.MaxSize)
	}
	var in incoming
	if binary {
		in, err = decodeBinary(r.Header, body)
	} else {
		in, err = decodeJSON(body, mt == "application/cloudevents+json")
	}
	if err != nil {
		return incoming{}, err
	}
	if len(in.stored) > event.MaxSize {
		return incoming{}, reject(http.StatusRequestEntityTooLarge, "the event, encoded as the CloudEvent the bus stores, is %d bytes: over the %d byte limit", len(in.stored), event.MaxSize)
	}
	if err := event.CheckBlogType(in.env.Type); err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "%v", err)
	}
	at := "/data" // where the data is in the body
	if in.shape == shapeBinary {
		at = ""
	}
	if vs := sch.check(in.env, at); len(vs) > 0 {
		rej := reject(http.StatusUnprocessableEntity, "%s data does not match the type's JSON Schema (GET %s): %s; nothing was stored",
			in.env.Type, catalogue.SchemasPath, summarize(vs))
		rej.violations = vs
		return incoming{}, rej
	}
	if err := reg.Validate(in.env); err != nil && !errors.Is(err, event.ErrUnknownType) {
		return incoming{}, reject(http.StatusUnprocessableEntity, "%s is a known blog event type and its data is invalid: %v", in.env.Type, err)
	}
	return in, nil
}

// decodeJSON decodes a JSON body: a structured CloudEvent if cloudEvent is
// set or the object has "specversion", else the tutorial's {type, data}.
func decodeJSON(body []byte, cloudEvent bool) (incoming, error) {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		if len(bytes.TrimSpace(body)) == 0 {
			err = errors.New("the body is empty")
		}
		return incoming{}, reject(http.StatusBadRequest, "the body is not valid JSON: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "the body must be a JSON object; %s", acceptedShapes)
	}
	if _, ok := fields["specversion"]; ok || cloudEvent {
		return decodeStructured(body, fields)
	}
	return decodeTutorial(fields)
}

// decodeTutorial accepts exactly {"type": "<type>", "data": {...}} and wraps
// it in a CloudEvent with a fresh id, source Source and the current time.
func decodeTutorial(fields map[string]json.RawMessage) (incoming, error) {
	for name := range fields {
		if name != "type" && name != "data" {
			return incoming{}, reject(http.StatusUnprocessableEntity,
				"unexpected field %q: a tutorial event has exactly \"type\" and \"data\" (post a CloudEvent, with \"specversion\", to set other attributes)", name)
		}
	}
	rawType, ok := fields["type"]
	if !ok {
		return incoming{}, reject(http.StatusUnprocessableEntity, "type is required: post {\"type\": \"PostCreated\", \"data\": {...}}")
	}
	var typ string
	if err := json.Unmarshal(rawType, &typ); err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "type must be a string, not %s", rawType)
	}
	data, ok := fields["data"]
	if !ok {
		return incoming{}, reject(http.StatusUnprocessableEntity, "data is required: post {\"type\": %q, \"data\": {...}}", typ)
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return incoming{}, reject(http.StatusUnprocessableEntity, "data must be a JSON object, not %s", abbreviate(t, 40))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return incoming{}, reject(http.StatusBadRequest, "data is not valid JSON: %v", err)
	}
	env := event.Envelope{
		SpecVersion: event.SpecVersion, ID: event.NewID(), Source: Source, Type: typ,
		Time: time.Now().UTC().Truncate(time.Microsecond), DataContentType: "application/json", Data: compact.Bytes(),
	}
	stored, err := env.Encode()
	if err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "%v", err)
	}
	return incoming{shape: shapeTutorial, env: env, stored: stored}, nil
}

// decodeStructured checks a structured CloudEvent with event.Parse and keeps
// body as posted, extensions included.
func decodeStructured(body []byte, fields map[string]json.RawMessage) (incoming, error) {
	for name := range fields {
		if err := checkAttribute(name); err != nil {
			return incoming{}, reject(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	env, err := event.Parse(body)
	if err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "invalid CloudEvent: %v", err)
	}
	return incoming{shape: shapeStructured, env: env, stored: body}, nil
}

// decodeBinary turns a binary-mode CloudEvent (attributes in ce-* headers,
// the body as data) into the structured JSON the bus stores.
func decodeBinary(h http.Header, body []byte) (incoming, error) {
	attrs := map[string]json.RawMessage{}
	for key, values := range h {
		name, ok := strings.CutPrefix(strings.ToLower(key), "ce-")
		if !ok || len(values) == 0 {
			continue
		}
		if err := checkAttribute(name); err != nil {
			return incoming{}, reject(http.StatusUnprocessableEntity, "header %s: %v", key, err)
		}
		value, err := url.PathUnescape(values[0])
		if err != nil {
			return incoming{}, reject(http.StatusBadRequest, "header %s is not correctly percent-encoded: %v", key, err)
		}
		if name == "entityversion" {
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return incoming{}, reject(http.StatusUnprocessableEntity, "header ce-entityversion must be an integer, not %q", value)
			}
			attrs[name] = json.RawMessage(strconv.FormatInt(n, 10))
			continue
		}
		attrs[name], _ = json.Marshal(value) // a string always encodes
	}
	if ct := h.Get("Content-Type"); ct != "" {
		attrs["datacontenttype"], _ = json.Marshal(ct)
	}
	if t := bytes.TrimSpace(body); len(t) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, t); err != nil {
			return incoming{}, reject(http.StatusBadRequest, "the body, the event's data, is not valid JSON: %v", err)
		}
		attrs["data"] = compact.Bytes()
	}
	stored, err := json.Marshal(attrs)
	if err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "encode the event: %v", err)
	}
	env, err := event.Parse(stored)
	if err != nil {
		return incoming{}, reject(http.StatusUnprocessableEntity, "invalid binary-mode CloudEvent (attributes come from ce-<name> headers, e.g. ce-id): %v", err)
	}
	return incoming{shape: shapeBinary, env: env, stored: stored}, nil
}

// checkAttribute reports why name cannot be a CloudEvents attribute name
// here: names are lowercase ASCII letters and digits, and data comes as
// JSON ("data"), never base64.
func checkAttribute(name string) error {
	if name == "data_base64" {
		return errors.New("data_base64 is not supported: send the data as JSON in \"data\"")
	}
	if name == "data" {
		return nil
	}
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
		return fmt.Errorf("attribute name %q may hold only lowercase letters a-z and digits (CloudEvents 1.0)", name)
	}
	return nil
}

// summarize lists the first violations of vs for a problem's detail line.
func summarize(vs []Violation) string {
	var parts []string
	for _, v := range vs[:min(len(vs), 3)] {
		parts = append(parts, cmp.Or(v.Pointer, "the data")+": "+v.Rule+": "+v.Message)
	}
	if len(vs) > 3 {
		parts = append(parts, fmt.Sprintf("and %d more", len(vs)-3))
	}
	return strings.Join(parts, "; ")
}

// abbreviate returns b, cut to n bytes with "..." if longer.
func abbreviate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return strings.ToValidUTF8(string(b[:n]), "") + "..."
}

// firstHeader returns the first value of key in a stored message's header.
func firstHeader(h map[string][]string, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}
