package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/auth"
)

// attack is one row of the OWASP API Security Top 10 (2023) table: a
// request an attacker makes, and the refusal it must meet.
type attack struct {
	risk   string // API1 ... API8
	name   string
	tok    string // bearer token, "" for none
	method string
	path   string // service:path
	body   any
	raw    string // a raw body instead of body
	want   int
	says   string // in the answer
}

// TestOWASPAPITop10Attacks runs, against herald up as shipped (security on
// by default), an attack for each OWASP API Security Top 10 (2023) risk
// that applies to Herald, each meeting its refusal. The README lists the
// same table.
func TestOWASPAPITop10Attacks(t *testing.T) {
	dir := t.TempDir()
	m := upOnTCP(t, dir)
	base := func(name string) string { return m.Service(name).URL() }
	admin := operatorToken(t, dir)

	// Ann and Bob sign up and in; Bob orders a product.
	ann, annTok := signUpAndIn(t, base("users"), "ann")
	bob, bobTok := signUpAndIn(t, base("users"), "bob")
	product := post(t, admin, base("products")+"/products", map[string]string{"title": "kettle", "image": "https://img.example/k.png"})
	order := post(t, bobTok, base("orders")+"/orders", map[string]int64{"userId": bob, "productId": product})
	waitBodyAs(t, bobTok, fmt.Sprintf("%s/users/%d/products", base("query"), bob),
		fmt.Sprintf(`[{"id":%d,"title":"kettle","image":"https://img.example/k.png","price":0,"currency":"EUR"}]`, product))

	otherKey := auth.SigningKey{}
	_, otherKey.Private, _ = ed25519.GenerateKey(rand.Reader)
	otherKey.ID = auth.KeyID(otherKey.Private.Public().(ed25519.PublicKey))
	forged, _, err := (&auth.Issuer{Key: otherKey}).Issue(ann, auth.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.ReadSigningKey(filepath.Join(authSecrets(dir), auth.SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := (&auth.Issuer{Key: key, Now: func() time.Time { return time.Now().Add(-time.Hour) }}).Issue(ann, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"uid": ann, "role": "admin", "sub": fmt.Sprint(ann), "iss": "herald", "aud": "herald",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}

	attacks := []attack{
		{"API1", "Ann reads Bob's products", annTok, "GET", fmt.Sprintf("query:/users/%d/products", bob), nil, "", 404, "unknown to the query service"},
		{"API1", "Ann reads Bob's order", annTok, "GET", fmt.Sprintf("orders:/orders/%d", order), nil, "", 404, "does not exist"},
		{"API1", "Ann cancels Bob's order", annTok, "DELETE", fmt.Sprintf("orders:/orders/%d", order), nil, "", 404, "does not exist"},
		{"API1", "Ann reads Bob's profile", annTok, "GET", fmt.Sprintf("users:/users/%d", bob), nil, "", 404, "does not exist"},
		{"API1", "Ann orders in Bob's name", annTok, "POST", "orders:/orders", map[string]int64{"userId": bob, "productId": product}, "", 403, "may order only for that user"},
		{"API2", "an order without a token", "", "POST", "orders:/orders", map[string]int64{"userId": ann, "productId": product}, "", 401, "sign in with POST /sessions"},
		{"API2", "a token signed by another key", forged, "GET", fmt.Sprintf("query:/users/%d/products", ann), nil, "", 401, "token"},
		{"API2", "an expired token", expired, "GET", fmt.Sprintf("query:/users/%d/products", ann), nil, "", 401, "expired"},
		{"API2", "an unsigned (alg none) admin token", none, "GET", fmt.Sprintf("query:/users/%d/products", bob), nil, "", 401, "token"},
		{"API2", "a wrong password", "", "POST", "users:/sessions", map[string]string{"email": "ann@example.com", "password": "not her password"}, "", 401, "wrong email or password"},
		{"API2", "an unknown email, answered as a wrong password", "", "POST", "users:/sessions", map[string]string{"email": "nobody@example.com", "password": "not her password"}, "", 401, "wrong email or password"},
		{"API2", "a password too short to sign up with", "", "POST", "users:/users", map[string]string{"name": "Eve", "email": "eve@example.com", "password": "short"}, "", 422, "body.password"},
		{"API3", "signing up as an admin (mass assignment)", "", "POST", "users:/users", nil, `{"name":"Eve","email":"eve@example.com","password":"correct horse battery","role":"admin"}`, 422, "unexpected property"},
		{"API3", "an order that sets its own status", annTok, "POST", "orders:/orders", nil, fmt.Sprintf(`{"userId":%d,"productId":%d,"status":"cancelled"}`, ann, product), 422, "unexpected property"},
		{"API3", "a duplicate key smuggling another product", annTok, "POST", "orders:/orders", nil, fmt.Sprintf(`{"userId":%d,"productId":%d,"productId":999}`, ann, product), 400, "duplicate"},
		{"API4", "a history page larger than the maximum", "", "GET", "gateway:/events?limit=1000000", nil, "", 422, "limit"},
		{"API4", "a body over the limit", annTok, "POST", "orders:/orders", nil, `{"pad":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "larger than"},
		{"API4", "a 100 KB URL", annTok, "GET", "query:/users/1/products?pad=" + strings.Repeat("x", 100<<10), nil, "", 414, "URL"},
		{"API8", "a NUL in a name", "", "POST", "users:/users", nil, `{"name":"Ann\u0000Admin","email":"nul@example.com","password":"correct horse battery"}`, 400, "control character"},
		{"API8", "a body that is not UTF-8", "", "POST", "users:/users", nil, "{\"name\":\"An\xffn\",\"email\":\"utf@example.com\",\"password\":\"correct horse battery\"}", 400, "UTF-8"},
		{"API8", "a lone surrogate", "", "POST", "users:/users", nil, `{"name":"\ud800","email":"sur@example.com","password":"correct horse battery"}`, 400, "surrogate"},
		{"API8", "an id written as 1e0", annTok, "POST", "orders:/orders", nil, fmt.Sprintf(`{"userId":%d,"productId":1e0}`, ann), 422, "integer"},
		{"API5", "a user creates a product", annTok, "POST", "products:/products", map[string]string{"title": "free", "image": "https://img.example/f.png"}, "", 403, "admin role"},
		{"API5", "a user changes a product", annTok, "PUT", fmt.Sprintf("products:/products/%d", product), map[string]string{"title": "mine now"}, "", 403, "admin role"},
		{"API5", "a user reads the metrics", annTok, "GET", "orders:/metrics", nil, "", 403, "admin"},
		{"API5", "anyone reads the status", "", "GET", "query:/status", nil, "", 401, "admin token"},
		{"API5", "a user pauses the query's consumers", annTok, "POST", "query:/generation/pause", map[string]string{"lease": "5m"}, "", 403, "admin"},
		{"API5", "anyone switches the query's read model", "", "POST", "query:/generation/switch", map[string]int{"generation": 2}, "", 401, "admin token"},
		{"API5", "a user lists push subscriptions", annTok, "GET", "gateway:/subscriptions", nil, "", 403, "admin role"},
		{"API5", "a user subscribes a URL to every event", annTok, "POST", "gateway:/subscriptions", map[string]string{"url": "http://127.0.0.1:9/x"}, "", 403, "admin role"},
		{"API7", "a push to the cloud metadata address", admin, "POST", "gateway:/subscriptions", map[string]string{"url": "http://169.254.169.254/latest/meta-data"}, "", 422, "169.254.169.254"},
		{"API7", "a push to a private network", admin, "POST", "gateway:/subscriptions", map[string]string{"url": "http://10.1.2.3/hook"}, "", 422, "10.1.2.3"},
		{"API8", "profiles are not served by default", admin, "GET", "query:/debug/pprof/", nil, "", 404, "no route"},
		{"API8", "an unknown route answers a problem, not a stack", "", "GET", "orders:/../../etc/passwd", nil, "", 404, ""},
	}
	for _, a := range attacks {
		t.Run(a.risk+" "+a.name, func(t *testing.T) {
			svc, path, _ := strings.Cut(a.path, ":")
			status, b, h := send(t, a.tok, a.method, base(svc)+path, a.body, a.raw)
			if status != a.want || !strings.Contains(string(b), a.says) {
				t.Fatalf("%s %.80s: %d %s, want %d saying %q", a.method, path, status, short(b), a.want, a.says)
			}
			if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if status >= 400 && !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
				t.Errorf("answered %s, want application/problem+json", h.Get("Content-Type"))
			}
		})
	}

	t.Run("API2 guessing a password is rate limited", func(t *testing.T) {
		var status int
		var h http.Header
		for range 10 {
			status, _, h = send(t, "", "POST", base("users")+"/sessions", map[string]string{"email": "bob@example.com", "password": "guess guess guess"}, "")
			if status == http.StatusTooManyRequests {
				break
			}
		}
		if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("10 wrong guesses: last answered %d (Retry-After %q), want 429 with Retry-After", status, h.Get("Retry-After"))
		}
	})
	t.Run("API4 a user's flood of writes is rate limited", func(t *testing.T) {
		var status int
		var h http.Header
		for range 400 { // the default allows 100 a second after a burst of 200
			status, _, h = send(t, annTok, "DELETE", fmt.Sprintf("%s/orders/%d", base("orders"), order), nil, "")
			if status == http.StatusTooManyRequests {
				break
			}
		}
		if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Fatalf("400 writes in a row: the last answered %d, want 429 with Retry-After", status)
		}
	})
	t.Run("API3 no password or hash leaves the users service", func(t *testing.T) {
		_, b, _ := send(t, annTok, "GET", fmt.Sprintf("%s/users/%d", base("users"), ann), nil, "")
		for _, leak := range []string{"password", "argon2", "correct horse"} {
			if strings.Contains(strings.ToLower(string(b)), leak) {
				t.Fatalf("GET /users/%d answered %s, which contains %q", ann, b, leak)
			}
		}
	})
	t.Run("API8 the bus refuses anonymous connections", func(t *testing.T) {
		if nc, err := nats.Connect(m.server.ClientURL(), nats.Timeout(2*time.Second)); err == nil {
			nc.Close()
			t.Fatal("an anonymous client connected to the bus")
		}
	})
	t.Run("API8 secrets are readable by their owner only", func(t *testing.T) {
		for _, f := range []string{adminTokenFile(dir), filepath.Join(authSecrets(dir), auth.SigningKeyFile), filepath.Join(natsSecrets(dir), "orders.nk")} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v; want no access for group or others", f, fi.Mode().Perm())
			}
		}
	})
	t.Run("API8 the shop's write services send no CORS grant to other origins", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodOptions, base("orders")+"/orders", nil)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("orders granted CORS to %q", got)
		}
	})
}

// signUpAndIn signs a user called name up (name@example.com) and in, and
// returns the user's id and token.
func signUpAndIn(t *testing.T, users, name string) (int64, string) {
	t.Helper()
	email, pw := name+"@example.com", "correct horse battery "+name
	id := post(t, "", users+"/users", map[string]string{"name": name, "email": email, "password": pw})
	status, b, _ := send(t, "", "POST", users+"/sessions", map[string]string{"email": email, "password": pw}, "")
	var s struct {
		Token  string
		UserID int64
		Role   string
	}
	if err := json.Unmarshal(b, &s); status != http.StatusCreated || err != nil || s.Token == "" || s.UserID != id || s.Role != "user" {
		t.Fatalf("sign in as %s: %d %s", email, status, b)
	}
	return id, s.Token
}

// send makes one request as tok, with body as JSON or raw as it is.
func send(t *testing.T, tok, method, url string, body any, raw string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if raw != "" {
		r = strings.NewReader(raw)
	} else if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(j))
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func short(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}
