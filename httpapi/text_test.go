package httpapi

import (
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
)

func TestSingleLineAndTextRefuseControlCharacters(t *testing.T) {
	for _, c := range []struct {
		name, value      string
		singleLine, text string // the message's start; "" = accepted
	}{
		{"plain", "Ada Lovelace", "", ""},
		{"non-ASCII", "José 世界 😀 \u00a0", "", ""},
		{"empty", "", "", ""},
		{"NUL", "a\x00b", "must be one line without control characters; character 2 is U+0000", "must not contain control characters (other than tab and line breaks); character 2 is U+0000"},
		{"escape", "\x1b[31m", "must be one line without control characters; character 1 is U+001B", "must not contain control characters (other than tab and line breaks); character 1 is U+001B"},
		{"DEL", "a\x7f", "must be one line without control characters; character 2 is U+007F", "must not contain control characters (other than tab and line breaks); character 2 is U+007F"},
		{"C1", "é\u0085", "must be one line without control characters; character 2 is U+0085", "must not contain control characters (other than tab and line breaks); character 2 is U+0085"},
		{"tab", "a\tb", "must be one line without control characters; character 2 is U+0009", ""},
		{"line feed", "a\nb", "must be one line without control characters; character 2 is U+000A", ""},
		{"carriage return", "a\r\nb", "must be one line without control characters; character 2 is U+000D", ""},
		{"line separator", "a\u2028", "must be one line without control characters; character 2 is U+2028", ""},
		{"paragraph separator", "\u2029", "must be one line without control characters; character 1 is U+2029", ""},
		{"invalid UTF-8", "ab\xff", "must be UTF-8 text; character 3 is not", "must be UTF-8 text; character 3 is not"},
		{"U+FFFD itself", "a\ufffd", "", ""},
	} {
		for _, f := range []struct {
			name  string
			check func(*huma.PathBuffer, map[string]*string) []error
			want  string
		}{{"SingleLine", SingleLine, c.singleLine}, {"Text", Text, c.text}} {
			v := c.value
			errs := f.check(huma.NewPathBuffer([]byte{}, 0), map[string]*string{"body.name": &v, "body.other": nil})
			switch {
			case f.want == "" && len(errs) != 0:
				t.Errorf("%s(%q) = %v, want no error", f.name, c.value, errs)
			case f.want != "" && len(errs) != 1:
				t.Errorf("%s(%q) = %v, want one error", f.name, c.value, errs)
			case f.want != "":
				d := errs[0].(*huma.ErrorDetail)
				if d.Location != "body.name" || !strings.HasPrefix(d.Message, f.want) || d.Value != c.value {
					t.Errorf("%s(%q) = %+v, want at body.name %q", f.name, c.value, d, f.want)
				}
			}
		}
	}
}

func TestSingleLineReportsEveryBadFieldInOrder(t *testing.T) {
	a, b, ok := "a\x00", "b\n", "fine"
	errs := SingleLine(huma.NewPathBuffer([]byte{}, 0), map[string]*string{"body.title": &b, "body.image": &a, "body.ok": &ok})
	if len(errs) != 2 || errs[0].(*huma.ErrorDetail).Location != "body.image" || errs[1].(*huma.ErrorDetail).Location != "body.title" {
		t.Errorf("errors %v, want body.image then body.title", errs)
	}
}

// TestNotBlankNamesEachFieldOnce: two blank fields are body.title and
// body.image, not body.title and body.body.image.
func TestNotBlankNamesEachFieldOnce(t *testing.T) {
	a, b := " ", "\t"
	errs := NotBlank(huma.NewPathBuffer([]byte{}, 0), map[string]*string{"body.title": &a, "body.image": &b})
	got := map[string]bool{}
	for _, e := range errs {
		got[e.(*huma.ErrorDetail).Location] = true
	}
	if len(errs) != 2 || !got["body.title"] || !got["body.image"] {
		t.Errorf("errors %v, want one at body.title and one at body.image", errs)
	}
}
