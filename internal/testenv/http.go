package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Do sends a request and decodes a JSON answer into out if out is non-nil
// and the status is below 300. body is sent as is if it is a string or
// []byte, as JSON otherwise; nil sends no body. A request with a body says
// Content-Type: application/json. Do returns the status and the raw answer,
// and fails the test if the request cannot be made or a 2xx answer cannot
// be decoded.
func Do(t testing.TB, method, url string, body, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	code, _, raw := Send(t, method, url, ct, r)
	if out != nil && code < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return code, raw
}

// MustDo is Do that also fails the test unless the status is want.
func MustDo(t testing.TB, want int, method, url string, body, out any) {
	t.Helper()
	if code, raw := Do(t, method, url, body, out); code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, raw)
	}
}

// Send makes one request with body r (may be nil) and returns the answer's
// status, headers and body. contentType, unless empty, is the request's
// Content-Type; header is further headers as name, value pairs, set after
// it. Send fails the test if the request cannot be made or read, or if
// header has an odd length.
func Send(t testing.TB, method, url, contentType string, r io.Reader, header ...string) (int, http.Header, []byte) {
	t.Helper()
	if len(header)%2 != 0 {
		t.Fatalf("Send: header %q is not name, value pairs", header)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}
