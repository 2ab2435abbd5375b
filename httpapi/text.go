package httpapi

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// SingleLine returns an error detail for each named field holding a
// character that has no place in one line of text (a name, title, email,
// URL): any C0 control (U+0000-U+001F, tab and line breaks included), DEL,
// a C1 control (U+0080-U+009F), a line or paragraph separator (U+2028,
// U+2029), or bytes that are not UTF-8. Call it, like NotBlank, from a body
// struct's Resolve method; nil pointers are skipped.
func SingleLine(prefix *huma.PathBuffer, fields map[string]*string) []error {
	return checkText(prefix, fields, false)
}

// Text is SingleLine for free text (a comment, a post's body): tab, line
// feed and carriage return are allowed, and so are U+2028 and U+2029.
func Text(prefix *huma.PathBuffer, fields map[string]*string) []error {
	return checkText(prefix, fields, true)
}

func checkText(prefix *huma.PathBuffer, fields map[string]*string, multiline bool) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v := fields[name]
		if v == nil {
			continue
		}
		if msg := badText(*v, multiline); msg != "" {
			errs = append(errs, &huma.ErrorDetail{Location: at(prefix, name), Message: msg, Value: *v})
		}
	}
	return errs
}

// badText says what is wrong with s, or returns "".
func badText(s string, multiline bool) string {
	pos := 0
	for i, r := range s {
		pos++
		switch {
		case r == utf8.RuneError && !validAt(s, i):
			return fmt.Sprintf("must be UTF-8 text; character %d is not", pos)
		case multiline && (r == '\t' || r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029'):
		case r < 0x20 || 0x7f <= r && r <= 0x9f || r == '\u2028' || r == '\u2029':
			if multiline {
				return fmt.Sprintf("must not contain control characters (other than tab and line breaks); character %d is U+%04X", pos, r)
			}
			return fmt.Sprintf("must be one line without control characters; character %d is U+%04X", pos, r)
		}
	}
	return ""
}

// validAt is whether the U+FFFD decoded at s[i] was really there, not
// made up for an invalid byte.
func validAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}

// at is the location of the field name below prefix. (prefix.With(name)
// would do, but its Pop removes only the last dotted part of a name such as
// "body.title", so a second call would say "body.body.image".)
func at(prefix *huma.PathBuffer, name string) string {
	if prefix == nil || prefix.Len() == 0 {
		return name
	}
	return prefix.String() + "." + name
}
