package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldev/herald/shop/query"
)

// FixedBody returns a JSON body of exactly size bytes (at least 5): an
// array holding one string, ending in a newline as the query service's
// answers do.
func FixedBody(size int) []byte {
	size = max(size, 5)
	return []byte(`["` + strings.Repeat("x", size-5) + `"]` + "\n")
}

// FixedHandler answers every request with FixedBody(size) as JSON: the
// least any HTTP read can cost, the ceiling for the query service's reads.
func FixedHandler(size int) http.Handler {
	body := FixedBody(size)
	n := strconv.Itoa(len(body))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", n)
		_, _ = w.Write(body)
	})
}

// SyncQuery answers GET /users/{id}/products as a query service without a
// read model of its own would: per request it calls users (GET
// /users/{id}) and orders (GET /orders?userId={id}) at once, then products
// (GET /products/{id}) for each product of the user's orders that are not
// cancelled, all at once, passing the request's Authorization header on to
// each (users and orders answer only the user or an admin). It answers 404
// for a user users does not know (or does not show this caller), and 502
// if any call fails. It is the anchor Herald's query service is measured
// against.
type SyncQuery struct {
	Users, Orders, Products string // base URLs
	Client                  *http.Client
}

// NewSyncQuery returns a SyncQuery on the three services' base URLs, with a
// client that keeps enough connections open for 64 concurrent requests.
func NewSyncQuery(users, orders, products string) *SyncQuery {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &SyncQuery{Users: users, Orders: orders, Products: products, Client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

type syncOrder struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"userId"`
	ProductID int64     `json:"productId"`
	Status    string    `json:"status"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
}

var errNotFound = errors.New("not found")

// get fetches url into v, sending authorization as the Authorization
// header if set: errNotFound for a 404, an error for any other status but
// 200.
func (s *SyncQuery) get(ctx context.Context, url, authorization string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK:
		return json.NewDecoder(resp.Body).Decode(v)
	case http.StatusNotFound:
		return errNotFound
	default:
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
}

// UserProducts is the answer to GET /users/{id}/products, built from the
// three services, each asked with authorization (an Authorization header's
// value; empty for none).
func (s *SyncQuery) UserProducts(ctx context.Context, id int64, authorization string) ([]query.Product, error) {
	var (
		wg      sync.WaitGroup
		userErr error
		ordErr  error
		user    struct{ ID int64 }
		orders  []syncOrder
	)
	ids := strconv.FormatInt(id, 10)
	wg.Go(func() { userErr = s.get(ctx, s.Users+"/users/"+ids, authorization, &user) })
	wg.Go(func() { ordErr = s.get(ctx, s.Orders+"/orders?userId="+ids, authorization, &orders) })
	wg.Wait()
	if err := errors.Join(userErr, ordErr); err != nil {
		return nil, err
	}
	// Newest order first; each product once; cancelled orders do not count.
	var want []int64
	seen := map[int64]bool{}
	for _, o := range orders {
		if o.Status == "cancelled" || seen[o.ProductID] {
			continue
		}
		seen[o.ProductID] = true
		want = append(want, o.ProductID)
	}
	out := make([]query.Product, len(want))
	errs := make([]error, len(want))
	for i, pid := range want {
		wg.Go(func() {
			errs[i] = s.get(ctx, s.Products+"/products/"+strconv.FormatInt(pid, 10), authorization, &out[i])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// ServeHTTP serves GET /users/{id}/products.
func (s *SyncQuery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/users/")
	idText, ok2 := strings.CutSuffix(rest, "/products")
	id, err := strconv.ParseInt(idText, 10, 64)
	if r.Method != http.MethodGet || !ok || !ok2 || err != nil || id < 1 {
		http.NotFound(w, r)
		return
	}
	ps, err := s.UserProducts(r.Context(), id, r.Header.Get("Authorization"))
	switch {
	case errors.Is(err, errNotFound):
		http.Error(w, "user not found", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ps)
}

// ServeAnchor serves h on addr (127.0.0.1:0 for any free port) until ctx
// ends. Once it listens it prints "  bench  <name>  <URL>" and the line
// herald serve prints when ready, so the bench reads anchors and services
// alike.
func ServeAnchor(ctx context.Context, name, addr string, h http.Handler, out io.Writer, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("anchor %s: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "  %-4s  %-10s  http://%s\n", "bench", name, ln.Addr())
	fmt.Fprintln(out, readyLine)
	select {
	case err := <-errc:
		return fmt.Errorf("anchor %s: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// trivialResponse is the trivial server's answer: 200 with FixedBody(size)
// as JSON.
func trivialResponse(size int) []byte {
	body := FixedBody(size)
	return append(fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body)), body...)
}

// ServeTrivial serves on addr (127.0.0.1:0 for any free port), until ctx
// ends, the least an HTTP server can do: for every request it reads on a
// connection (every "\r\n\r\n"; requests with a body are not understood)
// it writes a canned HTTP/1.1 200 answer of FixedBody(size), without
// net/http. The load generator's ceiling on this machine is what it gets
// from this server. It prints its URL and the ready line as ServeAnchor
// does.
func ServeTrivial(ctx context.Context, name, addr string, size int, out io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("anchor %s: %w", name, err)
	}
	resp := trivialResponse(size)
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	errc := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				serveTrivialConn(c, resp)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			})
		}
	}()
	fmt.Fprintf(out, "  %-4s  %-10s  http://%s\n", "bench", name, ln.Addr())
	fmt.Fprintln(out, readyLine)
	select {
	case err := <-errc:
		return fmt.Errorf("anchor %s: %w", name, err)
	case <-ctx.Done():
	}
	ln.Close()
	mu.Lock()
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return nil
}

// serveTrivialConn answers every request read on c with resp, until c
// fails or is closed.
func serveTrivialConn(c net.Conn, resp []byte) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	var (
		ends requestEnds
		out  []byte
	)
	for {
		n, err := c.Read(buf)
		if k := ends.count(buf[:n]); k > 0 {
			out = out[:0]
			for range k {
				out = append(out, resp...)
			}
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// requestEnds counts the ends of request heads ("\r\n\r\n") in a stream
// read in pieces; one may straddle two pieces.
type requestEnds struct{ matched int } // bytes of "\r\n\r\n" matched at the end of the last piece

func (r *requestEnds) count(p []byte) int {
	const end = "\r\n\r\n"
	n := 0
	for i := 0; i < len(p); {
		if r.matched == 0 {
			j := bytes.IndexByte(p[i:], '\r')
			if j < 0 {
				break
			}
			i += j
		}
		switch b := p[i]; {
		case b == end[r.matched]:
			r.matched++
			if r.matched == len(end) {
				n++
				r.matched = 0
			}
		case b == '\r':
			r.matched = 1
		default:
			r.matched = 0
		}
		i++
	}
	return n
}
