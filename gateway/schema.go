package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/heraldev/herald/catalogue"
	"github.com/heraldev/herald/event"
)

// schemas holds the compiled JSON Schema of the data of every event type
// the gateway knows: the same schemas every service serves at GET
// /events/schemas (catalogue.DataSchema), compiled once, when the gateway
// is built. It never changes, so it is safe for concurrent use.
type schemas map[string]*jsonschema.Schema

// compileSchemas compiles the data schema of each of defs.
func compileSchemas(defs []event.Def) (schemas, error) {
	out := schemas{}
	for _, d := range defs {
		raw, err := catalogue.DataSchema(d)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("schema of %s: %w", d.Type, err)
		}
		url := "herald:///events/schemas/" + d.Type + ".json"
		c := jsonschema.NewCompiler()
		if err := c.AddResource(url, doc); err != nil {
			return nil, fmt.Errorf("schema of %s: %w", d.Type, err)
		}
		if out[d.Type], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("compile the schema of %s: %w", d.Type, err)
		}
	}
	return out, nil
}

// Violation is one way a posted event's data breaks its type's schema:
// where (a JSON Pointer into the request body), the schema keyword it
// breaks, and what to do about it.
type Violation struct {
	Pointer string `json:"pointer" doc:"JSON Pointer (RFC 6901) into the posted body: under /data for a tutorial or structured event, from the root for a binary-mode one"`
	Rule    string `json:"rule" doc:"The JSON Schema keyword broken: required, type, minLength, enum, additionalProperties, ..."`
	Message string `json:"message"`
}

// SchemaProblem is the 422 problem (RFC 9457) for posted data that does
// not match its type's JSON Schema: each violation in errors.
type SchemaProblem struct {
	Title  string      `json:"title"`
	Status int         `json:"status"`
	Detail string      `json:"detail"`
	Errors []Violation `json:"errors"`
}

// maxViolations bounds the violations a refusal lists.
const maxViolations = 20

// check returns how e's data breaks the schema of e's type, at most
// maxViolations, each pointer prefixed with at (where the data is in the
// body: "/data", or "" for a binary-mode event, whose body is its data);
// none if it matches, or if the type has no schema here (a type the
// gateway does not know). Data left out is checked as null.
func (s schemas) check(e event.Envelope, at string) []Violation {
	sch, ok := s[e.Type]
	if !ok {
		return nil
	}
	var inst any // missing data is null
	if len(bytes.TrimSpace(e.Data)) > 0 {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Data))
		if err != nil { // the envelope was parsed, so this is not expected
			return []Violation{{Pointer: at, Rule: "type", Message: "is not valid JSON: " + err.Error()}}
		}
		inst = v
	}
	err := sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return nil
	}
	var out []Violation
	leaves(ve, func(l *jsonschema.ValidationError) { out = append(out, describe(l, at)...) })
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Rule, b.Rule)
	})
	return out[:min(len(out), maxViolations)]
}

// leaves calls f with each error of the tree at e that has no causes: the
// rules actually broken, not the groups that hold them.
func leaves(e *jsonschema.ValidationError, f func(*jsonschema.ValidationError)) {
	if len(e.Causes) == 0 {
		f(e)
		return
	}
	for _, c := range e.Causes {
		leaves(c, f)
	}
}

// describe turns one broken rule into violations a person can act on. A
// missing or unknown property is reported at the property's own pointer.
func describe(e *jsonschema.ValidationError, at string) []Violation {
	ptr := at + pointer(e.InstanceLocation)
	rule := "schema"
	if kw := e.ErrorKind.KeywordPath(); len(kw) > 0 {
		rule = kw[0]
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		out := make([]Violation, len(k.Missing))
		for i, name := range k.Missing {
			out[i] = Violation{Pointer: ptr + "/" + escape(name), Rule: rule, Message: "is required"}
		}
		return out
	case *kind.AdditionalProperties:
		out := make([]Violation, len(k.Properties))
		for i, name := range k.Properties {
			out[i] = Violation{Pointer: ptr + "/" + escape(name), Rule: rule, Message: fmt.Sprintf("unknown field %q: the type's schema has no such property", name)}
		}
		return out
	case *kind.Type:
		return []Violation{{ptr, rule, fmt.Sprintf("must be %s, not %s", strings.Join(k.Want, " or "), k.Got)}}
	case *kind.MinLength:
		if k.Got == 0 {
			return []Violation{{ptr, rule, "must not be empty"}}
		}
		return []Violation{{ptr, rule, fmt.Sprintf("must be at least %d characters long, not %d", k.Want, k.Got)}}
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			raw, _ := json.Marshal(w) // a value decoded from JSON always encodes
			want[i] = string(raw)
		}
		return []Violation{{ptr, rule, "must be one of " + strings.Join(want, ", ")}}
	case *kind.MaxLength:
		return []Violation{{ptr, rule, fmt.Sprintf("must be at most %d characters long, not %d", k.Want, k.Got)}}
	case *kind.Minimum:
		return []Violation{{ptr, rule, fmt.Sprintf("must be %s or more, not %s", k.Want.RatString(), k.Got.RatString())}}
	case *kind.Maximum:
		return []Violation{{ptr, rule, fmt.Sprintf("must be %s or less, not %s", k.Want.RatString(), k.Got.RatString())}}
	case *kind.Pattern:
		return []Violation{{ptr, rule, fmt.Sprintf("%q does not match the pattern %s", k.Got, k.Want)}}
	}
	return []Violation{{ptr, rule, e.BasicOutput().Error.String()}} // the library's English wording
}

// pointer returns the JSON Pointer (RFC 6901) of tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escape(t))
	}
	return sb.String()
}

func escape(token string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(token)
}
