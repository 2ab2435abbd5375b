package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// body100 is a typical write's body: 100 bytes, a few string and number fields.
var body100 = []byte(`{"name":"Ada Lovelace","email":"ada@example.com","title":"Brass lamp","image":"lamp.png","n":123456}`)

// BenchmarkStrictJSON is the cost of CheckJSON on a typical body against
// json.Valid, the least any JSON reader does, and a json.Decoder token
// walk (which could not see invalid UTF-8 or lone surrogates anyway: its
// strings come back with U+FFFD in their place). Limits is the whole
// middleware on a request with that body, against the same request
// without it.
func BenchmarkStrictJSON(b *testing.B) {
	if len(body100) != 100 {
		b.Fatalf("body is %d bytes", len(body100))
	}
	b.Run("CheckJSON", func(b *testing.B) {
		b.SetBytes(int64(len(body100)))
		b.ReportAllocs()
		for b.Loop() {
			if CheckJSON(body100) != nil {
				b.Fatal("refused")
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body100)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body100) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Decoder.Token", func(b *testing.B) {
		b.SetBytes(int64(len(body100)))
		b.ReportAllocs()
		for b.Loop() {
			d := json.NewDecoder(bytes.NewReader(body100))
			for {
				if _, err := d.Token(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	read := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"handler", read}, {"Limits+handler", Limits(read, LimitOptions{})}} {
		b.Run(c.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/users", nil)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			var body bytes.Reader
			b.SetBytes(int64(len(body100)))
			b.ReportAllocs()
			for b.Loop() {
				body.Reset(body100)
				r.Body, r.ContentLength = io.NopCloser(&body), int64(len(body100))
				c.h.ServeHTTP(w, r)
			}
		})
	}
}
