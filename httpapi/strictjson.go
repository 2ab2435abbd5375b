package httpapi

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// JSONError is why CheckJSON refused a body that encoding/json would have
// decoded without complaint.
type JSONError struct {
	Offset   int    // byte offset of the fault in the body
	Location string // where, in Huma's notation: "body", "body.name", "body.items[2].name"
	Message  string // what is wrong, e.g. `duplicate key "productId"`
	Hint     string // how to fix it
}

// Error returns the whole sentence, as a problem's detail shows it.
func (e *JSONError) Error() string {
	return fmt.Sprintf("%s at byte %d (%s): %s", e.Message, e.Offset, e.Location, e.Hint)
}

// CheckJSON returns a *JSONError for the first thing in data that
// encoding/json would silently accept and alter, and nil otherwise:
//
//   - a key repeated in one object (encoding/json keeps the last value;
//     other readers keep the first, so two parties may see two orders);
//   - bytes that are not UTF-8, and \u escapes of a lone UTF-16 surrogate
//     (encoding/json turns both into U+FFFD);
//   - a control character in a string or key, raw or escaped: C0
//     (U+0000-U+001F), DEL and C1 (U+007F-U+009F), except tab, line feed
//     and carriage return. Per-field rules (SingleLine) go further.
//
// Keys are compared after unescaping, so "a" and "\u0061" are one key.
// CheckJSON does not check JSON syntax: on malformed input it stops and
// returns nil, leaving the decoder to report the syntax error as it always
// has. It reads data once, without allocating for bodies whose objects have
// at most 16 keys and whose keys have no escapes. Safe for concurrent use.
func CheckJSON(data []byte) error {
	if e := checkJSON(data); e != nil {
		return e
	}
	return nil
}

// maxDepth is encoding/json's nesting limit; past it the decoder refuses
// the body itself.
const maxDepth = 10000

// smallObject is the number of keys an object may have before its keys
// move from a list, searched in order, to a map.
const smallObject = 16

// plain[c] is whether byte c inside a string needs no attention: printable
// ASCII other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// key is one object key: its bytes are data[start:end], or dec[start:end]
// when it had escapes.
type key struct {
	start, end int
	dec        bool
}

// frame is an object or array the walk is inside.
type frame struct {
	obj       bool
	expectKey bool                // object: the next string is a key
	index     int                 // array: the index of the current element
	key       key                 // object: the current key
	keys      int                 // object: where its keys begin in walker.keys
	set       map[string]struct{} // object with over smallObject keys: all of them
}

// walker holds the state of one checkJSON.
type walker struct {
	data   []byte
	dec    []byte // unescaped keys
	keys   []key  // the keys of the open small objects, innermost last
	frames []frame
	maps   bool // whether a frame has had a map
}

// walkers keeps walkers' slices from one check to the next.
var walkers = sync.Pool{New: func() any { return &walker{frames: make([]frame, 0, 8), keys: make([]key, 0, 32)} }}

func checkJSON(data []byte) *JSONError {
	w := walkers.Get().(*walker)
	w.data = data
	err := w.walk()
	if cap(w.frames) <= 64 && cap(w.keys) <= 256 && cap(w.dec) <= 4096 {
		if w.maps {
			clear(w.frames[:cap(w.frames)]) // let the big objects' maps go
		}
		w.data, w.maps = nil, false
		w.frames, w.keys, w.dec = w.frames[:0], w.keys[:0], w.dec[:0]
		walkers.Put(w)
	}
	return err
}

// walk checks every string of the document. It is lenient about structure:
// on anything that is not JSON it returns nil, or moves on, and the decoder
// refuses the body later.
func (w *walker) walk() *JSONError {
	d := w.data
	for i := 0; i < len(d); {
		switch c := d[i]; c {
		case '{', '[':
			if len(w.frames) == maxDepth {
				return nil
			}
			w.frames = append(w.frames, frame{obj: c == '{', expectKey: c == '{', keys: len(w.keys)})
			i++
		case '}', ']':
			if n := len(w.frames); n > 0 {
				if f := &w.frames[n-1]; f.obj {
					w.keys = w.keys[:f.keys]
				}
				w.frames = w.frames[:n-1]
			}
			i++
		case ',':
			if n := len(w.frames); n > 0 {
				if f := &w.frames[n-1]; f.obj {
					f.expectKey = true
				} else {
					f.index++
				}
			}
			i++
		case '"':
			isKey := false
			if n := len(w.frames); n > 0 {
				isKey = w.frames[n-1].obj && w.frames[n-1].expectKey
			}
			end, esc, err := w.str(i, isKey)
			if err != nil || end < 0 {
				return err
			}
			if isKey {
				if err := w.addKey(i, end, esc); err != nil {
					return err
				}
			}
			i = end
		default: // whitespace, ':', numbers, true, false, null
			i++
		}
	}
	return nil
}

// str checks the string whose opening quote is at data[i]. It returns the
// offset just past its closing quote and whether it has escapes, or -1 if
// it is not a well-formed JSON string.
func (w *walker) str(i int, isKey bool) (end int, esc bool, err *JSONError) {
	d := w.data
	j := i + 1
	for j < len(d) {
		c := d[j]
		if plain[c] {
			j++
			continue
		}
		switch {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			if j+1 >= len(d) {
				return -1, esc, nil
			}
			switch d[j+1] {
			case '"', '\\', '/', 'n', 'r', 't':
				j += 2
			case 'b':
				return -1, esc, w.control(j, isKey, '\b')
			case 'f':
				return -1, esc, w.control(j, isKey, '\f')
			case 'u':
				r, ok := hex4(d, j+2)
				if !ok {
					return -1, esc, nil
				}
				switch {
				case 0xd800 <= r && r < 0xdc00:
					if lo, ok := hex4(d, j+8); ok && d[j+6] == '\\' && d[j+7] == 'u' && 0xdc00 <= lo && lo < 0xe000 {
						j += 12
						continue
					}
					return -1, esc, w.surrogate(j, isKey, r)
				case 0xdc00 <= r && r < 0xe000:
					return -1, esc, w.surrogate(j, isKey, r)
				case isControl(r):
					return -1, esc, w.control(j, isKey, r)
				}
				j += 6
			default:
				return -1, esc, nil
			}
		case c == '\t' || c == '\n' || c == '\r':
			return -1, esc, nil // raw: a syntax error the decoder reports
		case c < 0x80: // the other C0 controls and DEL
			return -1, esc, w.control(j, isKey, rune(c))
		default:
			r, size := utf8.DecodeRune(d[j:])
			if r == utf8.RuneError && size == 1 {
				return -1, esc, w.fail(j, isKey, "the body is not valid UTF-8", "send text encoded as UTF-8")
			}
			if isControl(r) {
				return -1, esc, w.control(j, isKey, r)
			}
			j += size
		}
	}
	return -1, esc, nil
}

// isControl is whether r is a C0 control other than tab, line feed and
// carriage return, DEL, or a C1 control.
func isControl(r rune) bool {
	return r < 0x20 && r != '\t' && r != '\n' && r != '\r' || 0x7f <= r && r <= 0x9f
}

// hex4 is the value of the four hex digits at d[i:], if they are four hex digits.
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// addKey records the key whose string runs from data[start] (its opening
// quote) to just before data[end], refusing it if its object has it already.
func (w *walker) addKey(start, end int, esc bool) *JSONError {
	k := key{start: start + 1, end: end - 1}
	if esc {
		n := len(w.dec)
		w.dec = unescape(w.dec, w.data[k.start:k.end])
		k = key{start: n, end: len(w.dec), dec: true}
	}
	f := &w.frames[len(w.frames)-1]
	kb := w.bytes(k)
	dup := false
	switch {
	case f.set != nil:
		_, dup = f.set[string(kb)]
		f.set[string(kb)] = struct{}{}
	default:
		for _, o := range w.keys[f.keys:] {
			if bytes.Equal(w.bytes(o), kb) {
				dup = true
				break
			}
		}
		w.keys = append(w.keys, k)
		if len(w.keys)-f.keys > smallObject {
			f.set, w.maps = make(map[string]struct{}, 2*smallObject), true
			for _, o := range w.keys[f.keys:] {
				f.set[string(w.bytes(o))] = struct{}{}
			}
			w.keys = w.keys[:f.keys]
		}
	}
	if dup {
		name := quoteKey(kb)
		return &JSONError{
			Offset: start, Location: w.location(true) + "." + string(shorten(kb)),
			Message: "duplicate key " + name,
			Hint:    "send each key of an object once; readers disagree on which of its values counts",
		}
	}
	f.key, f.expectKey = k, false
	return nil
}

func (w *walker) bytes(k key) []byte {
	if k.dec {
		return w.dec[k.start:k.end]
	}
	return w.data[k.start:k.end]
}

// location is where the walk is, in Huma's notation. In a key, it is the
// location of the key's object.
func (w *walker) location(inKey bool) string {
	b := []byte("body")
	for n, f := range w.frames {
		switch {
		case !f.obj:
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(f.index), 10)
			b = append(b, ']')
		case inKey && n == len(w.frames)-1:
		default:
			b = append(b, '.')
			b = append(b, shorten(w.bytes(f.key))...)
		}
	}
	return string(b)
}

func (w *walker) fail(offset int, inKey bool, msg, hint string) *JSONError {
	return &JSONError{Offset: offset, Location: w.location(inKey), Message: msg, Hint: hint}
}

func (w *walker) control(offset int, inKey bool, r rune) *JSONError {
	return w.fail(offset, inKey, fmt.Sprintf("control character U+%04X", r),
		"strings may contain no control characters but tab, line feed and carriage return")
}

func (w *walker) surrogate(offset int, inKey bool, r rune) *JSONError {
	return w.fail(offset, inKey, fmt.Sprintf(`lone surrogate \u%04x`, r),
		`write a character beyond U+FFFF as UTF-8 or as a surrogate pair, such as \ud83d\ude00`)
}

// unescape appends the string whose JSON text, without quotes, is s. s has
// passed str: its escapes are well formed and its surrogates paired.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch s[i+1] {
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			if 0xd800 <= r && r < 0xdc00 {
				lo, _ := hex4(s, i+8)
				r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

// shorten cuts a key to at most 64 bytes for a message.
func shorten(k []byte) []byte {
	if len(k) > 64 {
		return append(k[:61:61], "..."...)
	}
	return k
}

func quoteKey(k []byte) string { return strconv.Quote(string(shorten(k))) }
