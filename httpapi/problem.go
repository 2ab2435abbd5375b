package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// Huma is configured through package variables; they are set once here,
// before any API exists, and never again.
func init() {
	// Field names are case-sensitive. Huma otherwise validates "title" but
	// lets a second key "Title" through unchecked, and encoding/json then
	// stores the unchecked one (the last match wins).
	huma.ValidateStrictCasing = true

	base := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		se := base(status, msg, errs...)
		if m, ok := se.(*huma.ErrorModel); ok {
			improve(m)
		}
		return se
	}
}

var (
	requiredRe  = regexp.MustCompile(`^expected required property (\S+) to be present$`)
	unmarshalRe = regexp.MustCompile(`^json: cannot unmarshal (.+?) into Go struct field \S*?\.?(\w+) of type (\w+)$`)
)

// improve makes Huma's problem details name the field at fault in every
// error's location, replaces Go-internal wording, and puts the errors in the
// detail line so that a person reading only the detail knows what to fix.
func improve(m *huma.ErrorModel) {
	var lines []string
	for _, d := range m.Errors {
		if d == nil {
			continue
		}
		if s := requiredRe.FindStringSubmatch(d.Message); s != nil {
			d.Location = join(d.Location, s[1])
			d.Message = "is required"
		} else if s := unmarshalRe.FindStringSubmatch(d.Message); s != nil {
			d.Location = join(d.Location, s[2])
			d.Message = fmt.Sprintf("%s is not a valid %s", s[1], s[3])
			if strings.Contains(s[3], "int") {
				d.Message = integerMessage(s[1])
				if lit, ok := strings.CutPrefix(s[1], "number "); ok {
					d.Value = json.Number(lit) // not the whole body, which Huma puts here
				}
			}
		} else if d.Message == "expected integer" {
			d.Message = "must be an integer, such as 5"
		}
		if len(lines) < 3 {
			if d.Location != "" {
				lines = append(lines, d.Location+": "+d.Message)
			} else {
				lines = append(lines, d.Message)
			}
		}
	}
	if m.Detail != "validation failed" || len(lines) == 0 {
		return
	}
	switch m.Status {
	case http.StatusUnsupportedMediaType:
		m.Detail = "the body must be JSON sent with Content-Type: application/json"
	case http.StatusBadRequest:
		m.Detail = "the body is not valid JSON: " + strings.Join(lines, "; ")
	default:
		m.Detail = "validation failed: " + strings.Join(lines, "; ")
	}
}

func join(location, field string) string {
	if location == "" {
		return field
	}
	return location + "." + field
}

// integerMessage says what is wrong with what, per encoding/json, could not
// be stored in an integer field: "number 1e0", "number 1.0" or
// "number 1e30". A whole number written with a fraction or an exponent
// passes Huma's schema (it is an integer to JSON Schema) but not Go's
// decoder, so the message says how to write it.
func integerMessage(what string) string {
	lit, ok := strings.CutPrefix(what, "number ")
	if !ok {
		return "must be an integer, such as 5"
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err == nil && math.Abs(f) < 1<<63 && strings.ContainsAny(lit, ".eE") {
		return "must be an integer written with digits only, such as 5, not " + lit
	}
	return "must be an integer that fits in 64 bits"
}
