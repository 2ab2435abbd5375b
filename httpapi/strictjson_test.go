package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestCheckJSONRefusesWhatTheDecoderWouldSilentlyChange(t *testing.T) {
	for _, c := range []struct {
		name, body string
		offset     int
		loc, msg   string
	}{
		{"duplicate key", `{"productId":5,"productId":20}`, 15, "body.productId", `duplicate key "productId"`},
		{"duplicate key after spaces", `{ "a" : 1 , "b" : 2 , "a" : 3 }`, 22, "body.a", `duplicate key "a"`},
		{"duplicate key spelt with an escape", `{"ab":1,"a\u0062":2}`, 8, "body.ab", `duplicate key "ab"`},
		{"duplicate escaped key", `{"a\nb":1,"a\u000ab":2}`, 10, "body.a\nb", `duplicate key "a\nb"`},
		{"duplicate key in a nested object", `{"user":{"name":"a","name":"b"}}`, 20, "body.user.name", `duplicate key "name"`},
		{"duplicate key in an array element", `{"items":[{"id":1},{"id":2,"id":3}]}`, 27, "body.items[1].id", `duplicate key "id"`},
		{"duplicate key in a top-level array", `[{},{"x":1,"x":1}]`, 11, "body[1].x", `duplicate key "x"`},
		{"duplicate key among many", manyKeys(40, "k7"), 0, "body.k7", `duplicate key "k7"`},
		{"duplicate key among many, spelt with an escape", manyKeys(40, `k\u0033`), 0, "body.k3", `duplicate key "k3"`},

		{"NUL escaped", `{"name":"a\u0000b"}`, 10, "body.name", "control character U+0000"},
		{"NUL raw", "{\"name\":\"a\x00b\"}", 10, "body.name", "control character U+0000"},
		{"escape character", `{"name":"\u001b[31m"}`, 9, "body.name", "control character U+001B"},
		{"backspace escape", `{"name":"a\bb"}`, 10, "body.name", "control character U+0008"},
		{"form feed escape", `{"name":"a\fb"}`, 10, "body.name", "control character U+000C"},
		{"DEL raw", "{\"name\":\"a\x7f\"}", 10, "body.name", "control character U+007F"},
		{"DEL escaped", `{"name":"\u007F"}`, 9, "body.name", "control character U+007F"},
		{"C1 raw", "{\"name\":\"a\u0085\"}", 10, "body.name", "control character U+0085"},
		{"C1 escaped", `{"name":"\u009f"}`, 9, "body.name", "control character U+009F"},
		{"control in a key", `{"na\u0000me":1}`, 4, "body", "control character U+0000"},
		{"control in a nested key", `{"a":{"b\u0001":1}}`, 8, "body.a", "control character U+0001"},
		{"control in an array", `{"tags":["ok","b\u0002"]}`, 16, "body.tags[1]", "control character U+0002"},
		{"control in a top-level string", `"\u0003"`, 1, "body", "control character U+0003"},

		{"invalid UTF-8", "{\"name\":\"a\xffb\"}", 10, "body.name", "not valid UTF-8"},
		{"truncated UTF-8", "{\"name\":\"a\xc3\"}", 10, "body.name", "not valid UTF-8"},
		{"overlong UTF-8", "{\"name\":\"\xc0\xaf\"}", 9, "body.name", "not valid UTF-8"},
		{"surrogate encoded in UTF-8", "{\"name\":\"\xed\xa0\x80\"}", 9, "body.name", "not valid UTF-8"},
		{"invalid UTF-8 in a key", "{\"\xfe\":1}", 2, "body", "not valid UTF-8"},

		{"lone high surrogate", `{"name":"\ud800"}`, 9, "body.name", `lone surrogate \ud800`},
		{"lone high surrogate at the end", `{"name":"a\uD83D"}`, 10, "body.name", `lone surrogate \ud83d`},
		{"high surrogate then a letter", `{"name":"\ud83dx"}`, 9, "body.name", `lone surrogate \ud83d`},
		{"two high surrogates", `{"name":"\ud83d\ud83d"}`, 9, "body.name", `lone surrogate \ud83d`},
		{"lone low surrogate", `{"name":"\udc00"}`, 9, "body.name", `lone surrogate \udc00`},
		{"low then high surrogate", `{"name":"\ude00\ud83d"}`, 9, "body.name", `lone surrogate \ude00`},
		{"lone surrogate in a key", `{"\ud800":1}`, 2, "body", `lone surrogate \ud800`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckJSON([]byte(c.body))
			var je *JSONError
			if !errors.As(err, &je) {
				t.Fatalf("CheckJSON(%q) = %v, want a *JSONError", c.body, err)
			}
			if je.Location != c.loc || !strings.Contains(je.Message, c.msg) || (c.offset != 0 && je.Offset != c.offset) {
				t.Errorf("CheckJSON(%q) = %+v, want location %q, message with %q, offset %d", c.body, je, c.loc, c.msg, c.offset)
			}
			if !strings.Contains(je.Error(), c.msg) || !strings.Contains(je.Error(), fmt.Sprintf("byte %d", je.Offset)) || je.Hint == "" {
				t.Errorf("Error() = %q: want the message, the byte and a hint", je.Error())
			}
		})
	}
}

// manyKeys is an object of n distinct keys k0...k(n-1) and then dup, so
// that the duplicate is found by the map, not the list, of keys.
func manyKeys(n int, dup string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	fmt.Fprintf(&b, `"%s":0}`, dup)
	return b.String()
}

func TestCheckJSONAcceptsWhatIsFine(t *testing.T) {
	for _, body := range []string{
		`{"userId":1,"productId":2}`,
		`{"name":"Ada","email":"ada@example.com"}`,
		`{"content":"line one\nline two\r\n\tindented"}`,
		`{"content":"tab\u0009 newline\u000a return\u000D"}`,
		`{"name":"\u00e9\u4e16\ud83d\ude00 é世😀"}`,               // escapes, a surrogate pair, raw UTF-8
		`{"name":"\u00a0\u00ff\u2028\u2029\ufeff\ufffd"}`,       // not controls: the per-field rules judge them
		`{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":1}],"x":1}`, // the same key in different objects
		`{"a":1,"A":2}`,                        // keys differ in case: Huma refuses one
		`{"a\"b":1,"a\\b":2,"a/b":3,"a\/c":4}`, // escaped keys that differ
		`[1,2,{"a":[]},[],"",null,true,false,-1.5e3,{"b":{"c":{}}}]`, // every kind of value
		`{"k":"\"},{\"k\":1"}`, // braces and a key inside a string
		manyKeys(100, "other"),
		``, `   `, `{`, `{"a":`, `{"a" "a"}`, `{"a":1 "a":2}`, `"\x"`, `"\u12"`, `]]]}`, "\"a\tb\"", // malformed: the decoder's to refuse
		strings.Repeat("[", maxDepth+5), // too deep: the decoder's to refuse
	} {
		if err := CheckJSON([]byte(body)); err != nil {
			t.Errorf("CheckJSON(%.80q) = %v, want nil", body, err)
		}
	}
}

// TestCheckJSONNeverRefusesWhatMarshalWrites checks random documents as
// encoding/json writes them, and with every non-ASCII character escaped.
func TestCheckJSONNeverRefusesWhatMarshalWrites(t *testing.T) {
	seed := uint64(rand.Int64())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for range 2000 {
		v := randomValue(rng, 0)
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range [][]byte{raw, escapeNonASCII(raw)} {
			if err := CheckJSON(body); err != nil {
				t.Fatalf("CheckJSON refused what json.Marshal wrote: %v\n%s", err, body)
			}
		}
	}
}

// FuzzCheckJSON: CheckJSON never panics, never refuses what json.Marshal
// writes of a map of the fuzzed strings (controls removed), and finds a
// duplicate key whenever the decoder's map has fewer keys than the text.
func FuzzCheckJSON(f *testing.F) {
	f.Add([]byte(`{"a":1}`), "name", "Ada")
	f.Add([]byte(`{"a":1,"a":2}`), "k\u00e9", "\u2028")
	f.Add([]byte(`{"a":"\ud800"}`), "", "\xff")
	f.Add([]byte(`{"a":{"b":1,"c":[1,{"b":2}]},"\u0061":2}`), "a", "b")
	f.Add([]byte(`["\u0085",{"\t":"\u001f"}]`), "a", "b")
	f.Fuzz(func(t *testing.T, data []byte, k, v string) {
		got := CheckJSON(data)
		if json.Valid(data) {
			// What the decoder sees must agree: a duplicate key or a
			// control among its decoded strings is refused, and anything
			// else refused is bytes it would have changed.
			want := refCheck(data)
			var je *JSONError
			switch {
			case want != "" && got == nil:
				t.Fatalf("CheckJSON(%q) = nil; the decoder sees %s", data, want)
			case got != nil && want == "" && !(errors.As(got, &je) && (strings.Contains(je.Message, "UTF-8") || strings.Contains(je.Message, "surrogate"))):
				t.Fatalf("CheckJSON(%q) = %v; the decoder sees nothing wrong", data, got)
			}
		}
		strip := func(s string) string {
			return strings.Map(func(r rune) rune {
				if isControl(r) {
					return -1
				}
				return r
			}, s)
		}
		raw, err := json.Marshal(map[string]any{strip(k): strip(v), "n": []any{strip(v), 1.5, map[string]string{strip(v): strip(k)}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckJSON(raw); err != nil {
			t.Fatalf("refused %s: %v", raw, err)
		}
		if err := CheckJSON(escapeNonASCII(raw)); err != nil {
			t.Fatalf("refused %s: %v", escapeNonASCII(raw), err)
		}
	})
}

// randomValue is a random JSON value: objects, arrays, numbers, booleans,
// null and strings of any characters but controls other than \t \n \r.
func randomValue(rng *rand.Rand, depth int) any {
	k := rng.IntN(8)
	if depth > 4 {
		k = rng.IntN(4)
	}
	switch k {
	case 0:
		return rng.NormFloat64() * 1e6
	case 1:
		return rng.IntN(2) == 0
	case 2:
		return nil
	case 3, 4:
		return randomString(rng)
	case 5:
		a := make([]any, rng.IntN(5))
		for i := range a {
			a[i] = randomValue(rng, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		n := 6
		if depth == 0 {
			n = 40 // past smallObject: the keys move to a map
		}
		for range rng.IntN(n) {
			// Valid UTF-8: Marshal writes both "\xff" and "\ufffd" as
			// U+FFFD, so two such keys would be one key twice.
			m[strings.ToValidUTF8(randomString(rng), "\ufffd")] = randomValue(rng, depth+1)
		}
		return m
	}
}

func randomString(rng *rand.Rand) string {
	pools := []string{"abcXYZ019 _-", "\"\\/<>&", "\t\n\r", "éüñ", "世界", "😀🎉𝄞", "\u00a0\u2028\u2029\ufeff\ufffd", "\xff\xc3"}
	var b strings.Builder
	for range rng.IntN(12) {
		p := []rune(pools[rng.IntN(len(pools))])
		if rng.IntN(10) == 0 {
			b.WriteString("\xff") // invalid UTF-8: Marshal writes U+FFFD
			continue
		}
		b.WriteRune(p[rng.IntN(len(p))])
	}
	return b.String()
}

// escapeNonASCII rewrites every non-ASCII character of a JSON text as \u
// escapes (a surrogate pair beyond U+FFFF), as some encoders do.
func escapeNonASCII(raw []byte) []byte {
	var b strings.Builder
	for _, r := range string(raw) {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return []byte(b.String())
}

// refCheck is what a json.Decoder token walk sees wrong with valid JSON: a
// key twice in one object, or a control character in a decoded string.
func refCheck(data []byte) string {
	type obj struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []*obj // nil for an array
	d := json.NewDecoder(strings.NewReader(string(data)))
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		var top *obj
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil {
					top.wantKey = true // after this value
				}
				if v == '{' {
					stack = append(stack, &obj{keys: map[string]bool{}, wantKey: true})
				} else {
					stack = append(stack, nil)
				}
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			for _, r := range v {
				if isControl(r) {
					return fmt.Sprintf("control U+%04X", r)
				}
			}
			switch {
			case top != nil && top.wantKey:
				if top.keys[v] {
					return fmt.Sprintf("duplicate key %q", v)
				}
				top.keys[v], top.wantKey = true, false
			case top != nil:
				top.wantKey = true
			}
		default:
			if top != nil {
				top.wantKey = true
			}
		}
	}
}
