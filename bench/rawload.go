package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Get is one request of a raw load: the path of a GET (with its query, if
// any), and how to judge its answer. rnd is the calling worker's own
// random source.
type Get func(rnd *rand.Rand) (path string, check func(status int, body []byte) Outcome)

// RawGets are the requests of a raw load (Load.Raw): Get's GETs to the
// server at URL, each with Header, on HTTP/1.1 keep-alive connections the
// load writes and reads itself, one per worker, without net/http's
// client. The request is written in one piece; the answer is read with a
// bufio.Reader (status line, headers, then a body of Content-Length
// bytes, chunks, or up to the connection's end); a connection that fails
// or that the server closes is dialled again for the next request.
//
// It costs a fraction of the client's CPU per request, so the generator,
// which shares the machine with the servers it measures, is not what
// limits them.
type RawGets struct {
	URL    string // http://host:port, with no path
	Header http.Header
	Get    Get
	// Post, if set instead of Get, makes the load's requests POSTs of
	// Post's bodies (with a Content-Length; Header gives their
	// Content-Type).
	Post Post
}

// Post is one request of a raw load of POSTs: its path, its body, and how
// to judge its answer.
type Post func(rnd *rand.Rand) (path string, body []byte, check func(status int, body []byte) Outcome)

// rawTimeout bounds one request of a raw load, from writing it to reading
// its answer's end.
const rawTimeout = 30 * time.Second

// sender returns a sender with a connection of its own, dialled at its
// first request, and what closes it.
func (g *RawGets) sender() (sender, func()) {
	u, err := url.Parse(g.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return func(*rand.Rand) (Outcome, string) {
			return Failed, fmt.Sprintf("raw load: %q is not an http:// URL", g.URL)
		}, func() {}
	}
	// Everything after the request line, formatted once.
	var tail bytes.Buffer
	fmt.Fprintf(&tail, " HTTP/1.1\r\nHost: %s\r\n", u.Host)
	for k, vs := range g.Header {
		for _, v := range vs {
			fmt.Fprintf(&tail, "%s: %s\r\n", k, v)
		}
	}
	if g.Post == nil {
		tail.WriteString("\r\n")
	}
	c := &rawConn{addr: u.Host, tail: tail.Bytes()}
	return func(rnd *rand.Rand) (Outcome, string) {
		var (
			method = "GET "
			path   string
			body   []byte
			check  func(int, []byte) Outcome
		)
		if g.Post != nil {
			method = "POST "
			path, body, check = g.Post(rnd)
		} else {
			path, check = g.Get(rnd)
		}
		status, answer, err := c.do(method, path, body)
		if err != nil {
			c.close()
			return Failed, method + path + ": " + err.Error()
		}
		out := check(status, answer)
		if out != OK {
			return out, strconv.Itoa(status) + ": " + truncate(string(answer), 200)
		}
		return OK, ""
	}, c.close
}

// rawConn is one worker's connection of a raw load, with its buffers.
type rawConn struct {
	addr string
	tail []byte // the request after its path
	conn net.Conn
	r    *bufio.Reader
	req  []byte // the request being written
	body []byte // the answer's body, reused
}

func (c *rawConn) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// get sends GET path and reads the answer: its status and body, which is
// valid until the next call. On an error the caller closes the connection.
func (c *rawConn) get(path string) (int, []byte, error) { return c.do("GET ", path, nil) }

// do sends method (with its trailing space) path, and body with its
// Content-Length if method is "POST ", and reads the answer as get does.
func (c *rawConn) do(method, path string, body []byte) (int, []byte, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		c.conn = conn
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 32<<10)
		} else {
			c.r.Reset(conn)
		}
	}
	if err := c.conn.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		return 0, nil, err
	}
	c.req = append(append(append(c.req[:0], method...), path...), c.tail...)
	if method == "POST " {
		c.req = append(strconv.AppendInt(append(c.req, "Content-Length: "...), int64(len(body)), 10), "\r\n\r\n"...)
		c.req = append(c.req, body...)
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, nil, err
	}
	status, length, chunked, closing, err := c.head()
	if err != nil {
		return 0, nil, err
	}
	c.body = c.body[:0]
	switch {
	case status == http.StatusNoContent || status == http.StatusNotModified || status/100 == 1:
	case chunked:
		err = c.chunks()
	case length >= 0:
		if cap(c.body) < length {
			c.body = make([]byte, length)
		}
		c.body = c.body[:length]
		_, err = io.ReadFull(c.r, c.body)
	default: // the body runs to the connection's end
		var b bytes.Buffer
		_, err = b.ReadFrom(c.r)
		c.body, closing = append(c.body, b.Bytes()...), true
	}
	if err != nil {
		return 0, nil, err
	}
	if closing {
		c.close()
	}
	return status, c.body, nil
}

var errMalformed = errors.New("malformed HTTP answer")

// head reads an answer's status line and headers: its status, its
// Content-Length (-1 if none), whether it is chunked, and whether the
// server closes the connection after it.
func (c *rawConn) head() (status, length int, chunked, closing bool, err error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, 0, false, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, false, false, fmt.Errorf("%w: status line %q", errMalformed, truncate(string(line), 80))
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, false, false, fmt.Errorf("%w: status line %q", errMalformed, truncate(string(line), 80))
	}
	closing = line[7] == '0' // HTTP/1.0 closes unless it says otherwise
	length = -1
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return 0, 0, false, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return status, length, chunked, closing, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, 0, false, false, fmt.Errorf("%w: header %q", errMalformed, truncate(string(line), 80))
		}
		value = bytes.TrimSpace(value)
		switch {
		case asciiEqualFold(name, "Content-Length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, 0, false, false, fmt.Errorf("%w: Content-Length %q", errMalformed, value)
			}
		case asciiEqualFold(name, "Transfer-Encoding"):
			chunked = asciiEqualFold(value, "chunked")
		case asciiEqualFold(name, "Connection"):
			closing = asciiEqualFold(value, "close")
		}
	}
}

// chunks reads a chunked body into c.body, and its trailer.
func (c *rawConn) chunks() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, truncate(string(line), 80))
		}
		if n == 0 {
			for { // the trailer, up to a blank line
				line, err := c.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		at := len(c.body)
		c.body = append(c.body, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, c.body[at:]); err != nil {
			return err
		}
		if crlf, err := c.r.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return fmt.Errorf("%w: no CRLF after a chunk", errMalformed)
		}
	}
}

// asciiEqualFold reports whether b is s, ignoring ASCII case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
