package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// LimitOptions are the sizes Limits allows. A zero field takes its default.
type LimitOptions struct {
	// MaxURL is the longest request target (the path and query as sent),
	// in bytes. Default 8 KiB.
	MaxURL int
	// MaxHeader is the most header bytes: each field's name, value, ": "
	// and CRLF, the Host included, the request line not (MaxURL bounds
	// that). Default 32 KiB. The http.Server's MaxHeaderBytes must be
	// larger, or net/http refuses first, in plain text.
	MaxHeader int
	// MaxBody is the largest body, in bytes. Default 1 MiB, Huma's own
	// default limit.
	MaxBody int64
}

func (l LimitOptions) withDefaults() LimitOptions {
	if l.MaxURL <= 0 {
		l.MaxURL = 8 << 10
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = 32 << 10
	}
	if l.MaxBody <= 0 {
		l.MaxBody = 1 << 20
	}
	return l
}

// Limits serves next, first refusing with problem details:
//
//   - a request target longer than l.MaxURL: 414 URI Too Long;
//   - headers over l.MaxHeader: 431 Request Header Fields Too Large;
//   - a body over l.MaxBody: 413 Content Too Large, before reading it if
//     its Content-Length says so; a body of unknown length is cut off at
//     the limit (the handler's read fails) and the handler's answer is
//     replaced with the 413;
//   - a JSON body (Content-Type application/json or application/*+json,
//     or none, which Huma reads as JSON) that CheckJSON refuses: 400 Bad
//     Request, naming the fault's location in errors[].
//
// A JSON body is read whole, checked, and handed on in r.Body (with
// r.ContentLength set), so the handler decodes exactly the bytes checked.
// A request without a body costs a few comparisons and no allocation.
// Safe for concurrent use.
func Limits(next http.Handler, l LimitOptions) http.Handler {
	l = l.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := targetLen(r); n > l.MaxURL {
			WriteProblem(w, http.StatusRequestURITooLong, fmt.Sprintf(
				"the URL is %d bytes long, over the limit of %s; send long parameters in a request body", n, size(int64(l.MaxURL))))
			return
		}
		if n, over := headerLen(r, l.MaxHeader); over {
			WriteProblem(w, http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf(
				"the request's headers take %d bytes or more, over the limit of %s; send fewer or shorter headers", n, size(int64(l.MaxHeader))))
			return
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > l.MaxBody {
			WriteProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf(
				"the body is %d bytes, larger than the limit of %s", r.ContentLength, size(l.MaxBody)))
			return
		}
		if !isJSON(r.Header.Get("Content-Type")) || encoded(r) {
			if r.ContentLength < 0 {
				cw := &capWriter{ResponseWriter: w, max: l.MaxBody}
				r.Body = &capBody{ReadCloser: http.MaxBytesReader(w, r.Body, l.MaxBody), w: cw}
				w = cw
			}
			next.ServeHTTP(w, r)
			return
		}
		data, code, detail := readBody(r, l.MaxBody)
		if code != 0 {
			WriteProblem(w, code, detail)
			return
		}
		if err := checkJSON(data); err != nil {
			writeProblem(w, http.StatusBadRequest, err.Error(), &huma.ErrorDetail{Location: err.Location, Message: err.Message})
			return
		}
		body := &replay{}
		body.Reset(data)
		r.Body = body
		r.ContentLength = int64(len(data))
		next.ServeHTTP(w, r)
	})
}

// writeProblem is WriteProblem with errors[] entries.
func writeProblem(w http.ResponseWriter, code int, detail string, errs ...*huma.ErrorDetail) {
	w.Header().Del("X-Content-Type-Options")
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(huma.ErrorModel{Title: http.StatusText(code), Status: code, Detail: detail, Errors: errs})
}

// targetLen is the length of the request target as the client sent it.
func targetLen(r *http.Request) int {
	if r.RequestURI != "" {
		return len(r.RequestURI)
	}
	return len(r.URL.RequestURI()) // a request built in a test, not read from a client
}

// headerLen counts r's header bytes until they pass max.
func headerLen(r *http.Request, max int) (n int, over bool) {
	n = len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
		if n > max {
			return n, true
		}
	}
	return n, n > max
}

// isJSON is whether a body of Content-Type ct is decoded as JSON: Huma
// takes a body without one for JSON.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	const app, suffix = "application/", "+json"
	return ct == "" || strings.EqualFold(ct, "application/json") ||
		len(ct) > len(app)+len(suffix) && strings.EqualFold(ct[:len(app)], app) && strings.EqualFold(ct[len(ct)-len(suffix):], suffix)
}

// encoded is whether r's body is compressed or otherwise not its JSON text.
func encoded(r *http.Request) bool {
	ce := r.Header.Get("Content-Encoding")
	return ce != "" && !strings.EqualFold(ce, "identity")
}

// readBody reads r's body of at most max bytes, or returns the status and
// detail to refuse it with.
func readBody(r *http.Request, max int64) (data []byte, code int, detail string) {
	var err error
	if r.ContentLength > 0 {
		data = make([]byte, r.ContentLength)
		var n int
		n, err = io.ReadFull(r.Body, data)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, http.StatusBadRequest, fmt.Sprintf("the body ended after %d of the %d bytes its Content-Length announced", n, r.ContentLength)
		}
	} else {
		data, err = io.ReadAll(io.LimitReader(r.Body, max+1))
		if err == nil && int64(len(data)) > max {
			return nil, http.StatusRequestEntityTooLarge, "the body is larger than the limit of " + size(max)
		}
	}
	if err == nil {
		return data, 0, ""
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return nil, http.StatusRequestTimeout, "the body did not arrive in time; send it again"
	}
	return nil, http.StatusBadRequest, "the body could not be read: " + err.Error()
}

// replay hands on a body Limits has read.
type replay struct{ bytes.Reader }

func (*replay) Close() error { return nil }

// capBody is a body of unknown length cut off at a limit; a read that
// passes the limit tells w.
type capBody struct {
	io.ReadCloser
	w *capWriter
}

func (b *capBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if err != nil && errors.As(err, &tooLarge) {
		b.w.over = true
	}
	return n, err
}

// capWriter answers 413 instead of whatever the handler answers once its
// body has passed the limit.
type capWriter struct {
	http.ResponseWriter
	max           int64
	over, written bool
	replaced      bool
}

func (w *capWriter) WriteHeader(code int) {
	if w.written {
		return
	}
	w.written = true
	if w.over {
		w.replaced = true
		WriteProblem(w.ResponseWriter, http.StatusRequestEntityTooLarge, "the body is larger than the limit of "+size(w.max))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *capWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil // the handler's answer is dropped
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *capWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// size writes n bytes as a person would: 1 MiB, 8 KiB, 1000 bytes.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
