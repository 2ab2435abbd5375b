package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeToken is the only token fakeShop's users and orders accept.
const fakeToken = "Bearer the-operator"

// fakeShop serves users 1 and 2, user 1's orders (newest first) and
// products 1 to 3; users and orders answer 401 to a request without
// fakeToken.
func fakeShop(t *testing.T) (users, orders, products *httptest.Server) {
	t.Helper()
	users = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != fakeToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/users/1", "/users/2":
			fmt.Fprintf(w, `{"id":%s,"name":"n","email":"e","version":1,"createdAt":"2026-01-01T00:00:00Z"}`, strings.TrimPrefix(r.URL.Path, "/users/"))
		default:
			http.NotFound(w, r)
		}
	}))
	orders = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != fakeToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("userId") != "1" {
			w.Write([]byte(`[]`))
			return
		}
		w.Write([]byte(`[
			{"id":5,"userId":1,"productId":2,"status":"placed","version":1,"createdAt":"2026-01-01T00:00:05Z"},
			{"id":4,"userId":1,"productId":3,"status":"cancelled","version":2,"createdAt":"2026-01-01T00:00:04Z"},
			{"id":3,"userId":1,"productId":1,"status":"placed","version":1,"createdAt":"2026-01-01T00:00:03Z"},
			{"id":2,"userId":1,"productId":2,"status":"placed","version":1,"createdAt":"2026-01-01T00:00:02Z"}]`))
	}))
	products = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/products/")
		fmt.Fprintf(w, `{"id":%s,"title":"title %s","image":"%s.png","version":1,"updatedAt":"2026-01-01T00:00:00Z"}`, id, id, id)
	}))
	t.Cleanup(func() { users.Close(); orders.Close(); products.Close() })
	return users, orders, products
}

func TestSyncQueryAnswersFromTheThreeServices(t *testing.T) {
	u, o, p := fakeShop(t)
	srv := httptest.NewServer(NewSyncQuery(u.URL, o.URL, p.URL))
	defer srv.Close()
	get := func(path string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", fakeToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := get("/users/1/products")
	want := `[{"id":2,"title":"title 2","image":"2.png"},{"id":1,"title":"title 1","image":"1.png"}]`
	if status != 200 || !sameAnswer([]byte(body), []byte(want)) {
		t.Errorf("user 1: %d %s, want 200 %s (newest first, once each, the cancelled one left out)", status, body, want)
	}
	if status, body := get("/users/2/products"); status != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("user without orders: %d %s, want 200 []", status, body)
	}
	if status, _ := get("/users/9/products"); status != 404 {
		t.Errorf("unknown user: %d, want 404", status)
	}
	if resp, err := http.Get(srv.URL + "/users/1/products"); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("without a token to pass on: %d, want 502 (users and orders refuse)", resp.StatusCode)
	}
	p.Close()
	if status, _ := get("/users/1/products"); status != http.StatusBadGateway {
		t.Errorf("products down: %d, want 502", status)
	}
}

func TestFixedHandlerAnswersExactlyTheSize(t *testing.T) {
	srv := httptest.NewServer(FixedHandler(450))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/users/1/products")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v any
	if len(b) != 450 || json.Unmarshal(b, &v) != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%d bytes of %s (%s), want 450 bytes of JSON", len(b), resp.Header.Get("Content-Type"), b[:20])
	}
}

func TestRequestEndsAreCountedAcrossPieces(t *testing.T) {
	stream := "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n\r\n\r\nGET /c HTTP/1.1\r\nA: \r\r\n\r\n"
	for size := 1; size <= len(stream); size++ {
		var ends requestEnds
		n := 0
		for i := 0; i < len(stream); i += size {
			n += ends.count([]byte(stream[i:min(i+size, len(stream))]))
		}
		if n != 3 {
			t.Errorf("in pieces of %d bytes: %d request ends, want 3", size, n)
		}
	}
}

func TestTrivialServerAnswersEveryRequestWithItsBody(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ServeTrivial(ctx, "trivial", "127.0.0.1:0", 300, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	url := strings.Fields(line)[2]
	body := FixedBody(300)
	// With the raw load, and with net/http's client.
	res := Load{Conns: 4, Count: 200, Raw: fixedGets(url, "t", 10, body)}.Run(ctx)
	if res.OK != 200 {
		t.Errorf("raw load: %d of 200 right (first error %q)", res.OK, res.FirstError)
	}
	resp, err := http.Get(url + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != string(body) {
		t.Errorf("net/http: %s %q, want 200 and the fixed body", resp.Status, b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeTrivial: %v", err)
	}
}
