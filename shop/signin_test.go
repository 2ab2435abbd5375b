package shop_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/event"
	"github.com/heraldev/herald/internal/testenv"
	"github.com/heraldev/herald/outbox"
	"github.com/heraldev/herald/shop"
	"github.com/heraldev/herald/shop/users"
)

// The tests in this file run the shop with authorization on, as herald up
// does: every service verifies tokens with the public keys in a jwks.json,
// and users signs them with the private key beside it.

// signedShop is a shop whose services verify tokens, and whose users
// service signs them.
type signedShop struct {
	*env
	s      map[string]*svc
	keys   string // the key dir: signing.pem and jwks.json
	key    auth.SigningKey
	issuer *auth.Issuer // what users signs with; tests use it to mint tokens
	admin  string       // an operator token (admin role)
}

// withAuth makes a service verify tokens with v and, if i is set, sign in
// users with i.
func withAuth(v *auth.Verifier, i *auth.Issuer) option {
	return func(c *shop.Config, _ *outbox.Publisher) { c.Auth, c.Issuer = v, i }
}

// newSignedShop makes a key pair with auth.Ensure in a temp dir and starts
// users, products, orders and query with authorization on, each with its
// own Verifier of the key set file, users also with the Issuer; opts apply
// to every service.
func newSignedShop(t *testing.T, opts ...option) *signedShop {
	t.Helper()
	e := newEnv(t)
	dir := t.TempDir()
	key, _, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	sh := &signedShop{env: e, s: map[string]*svc{}, keys: dir, key: key, issuer: &auth.Issuer{Key: key}}
	for _, name := range shop.Services {
		v, err := auth.NewVerifierFile(filepath.Join(dir, auth.KeySetFile))
		if err != nil {
			t.Fatal(err)
		}
		var i *auth.Issuer
		if name == "users" {
			i = sh.issuer
		}
		sh.s[name] = e.start(name, append([]option{withAuth(v, i)}, opts...)...)
	}
	if sh.admin, _, err = sh.issuer.IssueOperator(time.Hour); err != nil {
		t.Fatal(err)
	}
	return sh
}

// call sends body (nil, or a value sent as JSON) to url with token as its
// bearer token ("" sends none), decodes a 2xx answer into out if out is
// non-nil, and returns the status, the headers and the raw answer.
func call(t *testing.T, token, method, url string, body, out any) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	ct := ""
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r, ct = bytes.NewReader(raw), "application/json"
	}
	var header []string
	if token != "" {
		header = []string{"Authorization", "Bearer " + token}
	}
	code, h, raw := testenv.Send(t, method, url, ct, r, header...)
	if out != nil && code < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, raw, err)
		}
	}
	return code, h, raw
}

// mustCall is call that fails the test unless the status is want.
func mustCall(t *testing.T, want int, token, method, url string, body, out any) []byte {
	t.Helper()
	code, _, raw := call(t, token, method, url, body, out)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, code, want, raw)
	}
	return raw
}

// session is the answer of POST /sessions.
type session struct {
	Token     string    `json:"token"`
	TokenType string    `json:"tokenType"`
	ExpiresAt time.Time `json:"expiresAt"`
	UserID    int64     `json:"userId"`
	Role      string    `json:"role"`
}

// signIn asks users for a session for email and pw.
func signIn(t *testing.T, u *svc, email, pw string) (int, http.Header, []byte) {
	t.Helper()
	return call(t, "", "POST", u.URL()+"/sessions", map[string]string{"email": email, "password": pw}, nil)
}

// mustSignIn signs in email with the tests' password and returns the session.
func mustSignIn(t *testing.T, u *svc, email string) session {
	t.Helper()
	var s session
	mustCall(t, http.StatusCreated, "", "POST", u.URL()+"/sessions", map[string]string{"email": email, "password": password}, &s)
	return s
}

// signUpAndIn signs name up (createUser) and in, and returns the session.
func (sh *signedShop) signUpAndIn(t *testing.T, name string) session {
	t.Helper()
	id := createUser(t, sh.s["users"], name)
	s := mustSignIn(t, sh.s["users"], strings.ToLower(name)+"@example.com")
	if s.UserID != id {
		t.Fatalf("%s signed up as user %d but signed in as user %d", name, id, s.UserID)
	}
	return s
}

// product adds a product with the admin token and returns it.
func (sh *signedShop) product(t *testing.T, title string) product {
	t.Helper()
	p := product{Title: title, Image: title + ".png"}
	var id idOnly
	mustCall(t, http.StatusCreated, sh.admin, "POST", sh.s["products"].URL()+"/products", map[string]string{"title": p.Title, "image": p.Image}, &id)
	p.ID = id.ID
	return p
}

// order places an order for userID with token, waiting until orders has
// heard of the user and the product from their events.
func (sh *signedShop) order(t *testing.T, token string, userID, productID int64) int64 {
	t.Helper()
	var o idOnly
	testenv.Eventually(t, 15*time.Second, func() error {
		code, _, raw := call(t, token, "POST", sh.s["orders"].URL()+"/orders", map[string]int64{"userId": userID, "productId": productID}, &o)
		if code != http.StatusCreated {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		return nil
	})
	return o.ID
}

// userProductsURL is query's answer to which products user ordered.
func (sh *signedShop) userProductsURL(user int64) string {
	return fmt.Sprintf("%s/users/%d/products", sh.s["query"].URL(), user)
}

// waitViewAs polls query with token until user's answer is want.
func (sh *signedShop) waitViewAs(t *testing.T, token string, user int64, want []product) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, func() error {
		var got []product
		code, _, raw := call(t, token, "GET", sh.userProductsURL(user), nil, &got)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, raw)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	})
}

// assertChallenge checks that a 401's answer asks for a bearer token of
// realm herald, as RFC 6750 has it.
func assertChallenge(t *testing.T, what string, code int, h http.Header, raw []byte) {
	t.Helper()
	if code != http.StatusUnauthorized {
		t.Errorf("%s: status %d, want 401: %s", what, code, raw)
		return
	}
	if c := h.Get("WWW-Authenticate"); !strings.HasPrefix(c, `Bearer realm="herald"`) {
		t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge for realm herald", what, c)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
}

func TestSignInAnswersATokenEveryServiceVerifiesLocally(t *testing.T) {
	sh := newSignedShop(t)
	ann := createUser(t, sh.s["users"], "Ann")

	before := time.Now()
	var s session
	// The email as signed up but for its case and spaces: emails are
	// compared without either.
	mustCall(t, http.StatusCreated, "", "POST", sh.s["users"].URL()+"/sessions", map[string]string{"email": " ANN@example.com ", "password": password}, &s)
	if s.Token == "" || s.TokenType != "Bearer" || s.UserID != ann || s.Role != string(auth.RoleUser) {
		t.Fatalf("session %+v, want a Bearer token for user %d with role user", s, ann)
	}
	if s.ExpiresAt.Before(before) || s.ExpiresAt.After(time.Now().Add(auth.DefaultTTL+time.Second)) {
		t.Errorf("session expires at %v, want within %v of now", s.ExpiresAt, auth.DefaultTTL)
	}
	// The token is the claims it says: any holder of the public keys can
	// check it.
	v, err := auth.NewVerifierFile(filepath.Join(sh.keys, auth.KeySetFile))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := v.Verify(s.Token); err != nil || c.UserID != ann || c.Role != auth.RoleUser {
		t.Fatalf("Verify(token) = %+v, %v; want user %d's claims", c, err, ann)
	}

	// users, orders and query each take it, with no call to another service.
	mustCall(t, http.StatusOK, s.Token, "GET", fmt.Sprintf("%s/users/%d", sh.s["users"].URL(), ann), nil, nil)
	hat := sh.product(t, "hat")
	order := sh.order(t, s.Token, ann, hat.ID)
	var o struct {
		ID     int64  `json:"id"`
		UserID int64  `json:"userId"`
		Status string `json:"status"`
	}
	mustCall(t, http.StatusOK, s.Token, "GET", fmt.Sprintf("%s/orders/%d", sh.s["orders"].URL(), order), nil, &o)
	if o.ID != order || o.UserID != ann || o.Status != "placed" {
		t.Errorf("order %+v, want order %d of user %d, placed", o, order, ann)
	}
	var list []idOnly
	mustCall(t, http.StatusOK, s.Token, "GET", fmt.Sprintf("%s/orders?userId=%d", sh.s["orders"].URL(), ann), nil, &list)
	if len(list) != 1 || list[0].ID != order {
		t.Errorf("Ann's orders %v, want [%d]", list, order)
	}
	sh.waitViewAs(t, s.Token, ann, []product{hat})

	// Without the token, the same requests are refused.
	code, h, raw := call(t, "", "GET", sh.userProductsURL(ann), nil, nil)
	assertChallenge(t, "query without a token", code, h, raw)
	code, h, raw = call(t, "", "GET", fmt.Sprintf("%s/orders/%d", sh.s["orders"].URL(), order), nil, nil)
	assertChallenge(t, "orders without a token", code, h, raw)
}

func TestWrongPasswordAndUnknownEmailAnswerAlike(t *testing.T) {
	sh := newSignedShop(t)
	createUser(t, sh.s["users"], "Ann")

	type answer struct {
		code                 int
		contentType, wwwAuth string
		body                 string
	}
	ask := func(email, pw string) answer {
		code, h, raw := signIn(t, sh.s["users"], email, pw)
		return answer{code, h.Get("Content-Type"), h.Get("WWW-Authenticate"), string(raw)}
	}
	wrong := ask("ann@example.com", "not the password at all")
	unknown := ask("nobody@example.com", password)
	if wrong.code != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d, want 401: %s", wrong.code, wrong.body)
	}
	var p problemBody
	if err := json.Unmarshal([]byte(wrong.body), &p); err != nil || !strings.Contains(p.Detail, "wrong email or password") {
		t.Errorf("wrong password: problem %s (%v), want a detail saying wrong email or password", wrong.body, err)
	}
	if wrong != unknown {
		t.Errorf("a wrong password and an unknown email answer differently:\nwrong password: %+v\nunknown email:  %+v", wrong, unknown)
	}
	if !strings.HasPrefix(wrong.wwwAuth, `Bearer realm="herald"`) {
		t.Errorf("WWW-Authenticate %q, want a Bearer challenge for realm herald", wrong.wwwAuth)
	}
	// Neither counted against the other: the right password still works.
	mustSignIn(t, sh.s["users"], "ann@example.com")
}

func TestSignInIsRateLimitedPerEmail(t *testing.T) {
	sh := newSignedShop(t)
	u := sh.s["users"]
	createUser(t, u, "Ann")
	createUser(t, u, "Bob")

	for i := 1; i <= users.SignInBurst; i++ {
		if code, _, raw := signIn(t, u, "ann@example.com", fmt.Sprintf("guess number %d", i)); code != http.StatusUnauthorized {
			t.Fatalf("guess %d: status %d, want 401: %s", i, code, raw)
		}
	}
	// The next attempt is refused before the password is looked at, even
	// the right one, and even with the email written otherwise.
	for _, email := range []string{"ann@example.com", "  Ann@Example.COM"} {
		code, h, raw := signIn(t, u, email, password)
		if code != http.StatusTooManyRequests {
			t.Fatalf("%q after %d guesses: status %d, want 429: %s", email, users.SignInBurst, code, raw)
		}
		secs, err := strconv.Atoi(h.Get("Retry-After"))
		if maxWait := int(1 / users.SignInRate); err != nil || secs < 1 || secs > maxWait {
			t.Errorf("%q: Retry-After %q, want whole seconds from 1 to %d", email, h.Get("Retry-After"), maxWait)
		}
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%q: 429 with Content-Type %q, want application/problem+json", email, ct)
		}
	}

	// Other emails keep their own allowance, known or not.
	if s := mustSignIn(t, u, "bob@example.com"); s.Role != string(auth.RoleUser) {
		t.Errorf("Bob's session %+v", s)
	}
	if code, _, raw := signIn(t, u, "nobody@example.com", password); code != http.StatusUnauthorized {
		t.Errorf("an unknown email while Ann is limited: status %d, want 401: %s", code, raw)
	}
}

func TestPasswordNeverLeavesTheUsersService(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	sh := newSignedShop(t, withLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	const secret = "Sentinel-Passphrase-4711"
	const wrong = "Wrong-Passphrase-0815"

	// leaks says what in raw shows a password or a hash, "" if nothing.
	leaks := func(raw []byte) string {
		lower := bytes.ToLower(raw)
		for _, s := range []string{secret, wrong, "password", "argon2", "hash"} {
			if bytes.Contains(lower, bytes.ToLower([]byte(s))) {
				return s
			}
		}
		return ""
	}

	var u struct {
		ID int64 `json:"id"`
	}
	raw := mustCall(t, http.StatusCreated, "", "POST", sh.s["users"].URL()+"/users",
		map[string]string{"name": "Ann", "email": "ann@example.com", "password": secret}, &u)
	if l := leaks(raw); l != "" {
		t.Errorf("the sign-up's answer shows %q: %s", l, raw)
	}
	if code, _, raw := signIn(t, sh.s["users"], "ann@example.com", wrong); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: status %d: %s", code, raw)
	}
	var s session
	mustCall(t, http.StatusCreated, "", "POST", sh.s["users"].URL()+"/sessions", map[string]string{"email": "ann@example.com", "password": secret}, &s)

	// The event on the bus carries the user, and neither the password nor
	// its hash.
	var created []byte
	testenv.Eventually(t, 15*time.Second, func() error {
		for _, m := range sh.events() {
			ev, err := event.Parse(m.Data)
			if err != nil {
				return err
			}
			if ev.Type == event.UserCreated && ev.Subject == strconv.FormatInt(u.ID, 10) {
				d, err := event.Decode[event.UserCreatedData](ev)
				if err != nil {
					return err
				}
				if d.ID != u.ID || d.Email != "ann@example.com" {
					return fmt.Errorf("event data %+v, want user %d", d, u.ID)
				}
				created = m.Data
				return nil
			}
		}
		return fmt.Errorf("no %s event for user %d in the stream", event.UserCreated, u.ID)
	})
	if l := leaks(created); l != "" {
		t.Errorf("the %s event shows %q: %s", event.UserCreated, l, created)
	}

	// The user as users answers it: its own fields only.
	raw = mustCall(t, http.StatusOK, s.Token, "GET", fmt.Sprintf("%s/users/%d", sh.s["users"].URL(), u.ID), nil, nil)
	if l := leaks(raw); l != "" {
		t.Errorf("GET /users/%d shows %q: %s", u.ID, l, raw)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		switch k {
		case "id", "name", "email", "version", "createdAt":
		default:
			t.Errorf("GET /users/%d has a field %q besides the user's own: %s", u.ID, k, raw)
		}
	}

	// Stored as an Argon2id hash only.
	var hash string
	if err := sh.s["users"].DB.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, secret) {
		t.Errorf("users stores %q, want an Argon2id hash", hash)
	}

	// No service logged either password.
	for _, pw := range []string{secret, wrong} {
		if strings.Contains(logs.String(), pw) {
			t.Errorf("the logs show a password:\n%s", logs)
		}
	}
}

func TestQueryAnswersSignedInUsersWhileWritersAreDown(t *testing.T) {
	sh := newSignedShop(t)
	ann, bob := sh.signUpAndIn(t, "Ann"), sh.signUpAndIn(t, "Bob")
	hat, mug := sh.product(t, "hat"), sh.product(t, "mug")
	sh.order(t, ann.Token, ann.UserID, hat.ID)
	sh.order(t, ann.Token, ann.UserID, mug.ID)
	want := []product{mug, hat} // newest order first
	sh.waitViewAs(t, ann.Token, ann.UserID, want)

	for _, name := range []string{"users", "products", "orders"} {
		sh.s[name].MustStop()
	}
	if resp, err := http.Post(sh.s["users"].URL()+"/sessions", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		t.Fatal("users still answers after stop")
	}

	var got []product
	mustCall(t, http.StatusOK, ann.Token, "GET", sh.userProductsURL(ann.UserID), nil, &got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Ann's products with writers down: %v, want %v", got, want)
	}
	// A token query has never seen, minted now with users down: query
	// checks it with the public keys alone.
	fresh, _, err := sh.issuer.Issue(ann.UserID, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	mustCall(t, http.StatusOK, fresh, "GET", sh.userProductsURL(ann.UserID), nil, &got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Ann's products with a fresh token: %v, want %v", got, want)
	}
	// And it still tells users apart.
	mustCall(t, http.StatusNotFound, bob.Token, "GET", sh.userProductsURL(ann.UserID), nil, nil)
	code, h, raw := call(t, "", "GET", sh.userProductsURL(ann.UserID), nil, nil)
	assertChallenge(t, "query without a token, writers down", code, h, raw)
	mustCall(t, http.StatusOK, "", "GET", sh.s["query"].URL()+"/readyz", nil, nil)
}

func TestTokenOfAnotherUserIsRefused(t *testing.T) {
	sh := newSignedShop(t)
	ann, bob := sh.signUpAndIn(t, "Ann"), sh.signUpAndIn(t, "Bob")
	hat := sh.product(t, "hat")
	bobsOrder := sh.order(t, bob.Token, bob.UserID, hat.ID)
	sh.waitViewAs(t, bob.Token, bob.UserID, []product{hat})
	sh.waitViewAs(t, ann.Token, ann.UserID, []product{})
	const unknown = 987654321

	// sameAsMissing checks that Ann's answer about Bob's thing (id) is the
	// admin's answer about a thing that does not exist (the unknown id):
	// Ann cannot tell Bob's from nobody's.
	sameAsMissing := func(what, method, pattern string, id int64) {
		t.Helper()
		code, _, raw := call(t, ann.Token, method, fmt.Sprintf(pattern, id), nil, nil)
		_, _, missing := call(t, sh.admin, method, fmt.Sprintf(pattern, unknown), nil, nil)
		if code != http.StatusNotFound {
			t.Errorf("%s with Ann's token: status %d, want 404: %s", what, code, raw)
		}
		missing = bytes.ReplaceAll(missing, []byte(strconv.Itoa(unknown)), []byte(strconv.FormatInt(id, 10)))
		if !bytes.Equal(raw, missing) {
			t.Errorf("%s with Ann's token answers\n%s\nbut one that does not exist answers\n%s", what, raw, missing)
		}
	}
	sameAsMissing("Bob's products on query", "GET", sh.s["query"].URL()+"/users/%d/products", bob.UserID)
	sameAsMissing("Bob's order", "GET", sh.s["orders"].URL()+"/orders/%d", bobsOrder)
	sameAsMissing("cancelling Bob's order", "DELETE", sh.s["orders"].URL()+"/orders/%d", bobsOrder)
	sameAsMissing("Bob's user", "GET", sh.s["users"].URL()+"/users/%d", bob.UserID)

	// Ann may not list Bob's orders: she sees none.
	var list []idOnly
	mustCall(t, http.StatusOK, ann.Token, "GET", fmt.Sprintf("%s/orders?userId=%d", sh.s["orders"].URL(), bob.UserID), nil, &list)
	if list == nil || len(list) != 0 {
		t.Errorf("Bob's orders listed with Ann's token: %v, want []", list)
	}

	// Ann may not order for Bob: 403, naming the field.
	code, _, raw := call(t, ann.Token, "POST", sh.s["orders"].URL()+"/orders", map[string]int64{"userId": bob.UserID, "productId": hat.ID}, nil)
	var p problemBody
	if err := json.Unmarshal(raw, &p); code != http.StatusForbidden || err != nil {
		t.Errorf("ordering for Bob with Ann's token: status %d, want 403: %s", code, raw)
	} else if len(p.Errors) == 0 || p.Errors[0].Location != "body.userId" {
		t.Errorf("ordering for Bob with Ann's token: %s, want an error at body.userId", raw)
	}

	// Only an admin adds or changes products: 403 for a user, 401 without
	// a token.
	newProduct := map[string]string{"title": "lamp", "image": "lamp.png"}
	mustCall(t, http.StatusForbidden, ann.Token, "POST", sh.s["products"].URL()+"/products", newProduct, nil)
	mustCall(t, http.StatusForbidden, ann.Token, "PUT", fmt.Sprintf("%s/products/%d", sh.s["products"].URL(), hat.ID), map[string]string{"title": "cap"}, nil)
	code, h, raw := call(t, "", "POST", sh.s["products"].URL()+"/products", newProduct, nil)
	assertChallenge(t, "adding a product without a token", code, h, raw)

	// Nothing of Bob's changed: his order is placed, his view as it was,
	// the product as it was.
	var o struct {
		Status string `json:"status"`
	}
	mustCall(t, http.StatusOK, bob.Token, "GET", fmt.Sprintf("%s/orders/%d", sh.s["orders"].URL(), bobsOrder), nil, &o)
	if o.Status != "placed" {
		t.Errorf("Bob's order is %q after Ann tried to cancel it, want placed", o.Status)
	}
	mustCall(t, http.StatusOK, bob.Token, "GET", fmt.Sprintf("%s/orders?userId=%d", sh.s["orders"].URL(), bob.UserID), nil, &list)
	if len(list) != 1 || list[0].ID != bobsOrder {
		t.Errorf("Bob's orders with his token: %v, want [%d]", list, bobsOrder)
	}
	sh.waitViewAs(t, bob.Token, bob.UserID, []product{hat})
	var pr product
	mustCall(t, http.StatusOK, "", "GET", fmt.Sprintf("%s/products/%d", sh.s["products"].URL(), hat.ID), nil, &pr)
	if pr != hat {
		t.Errorf("product %+v after Ann's attempts, want %+v", pr, hat)
	}
}

func TestOperatorRoutesNeedAnAdminToken(t *testing.T) {
	sh := newSignedShop(t)
	ann := sh.signUpAndIn(t, "Ann")
	for _, name := range shop.Services {
		for _, path := range []string{"/metrics", "/status", "/journey?trace=0123456789abcdef0123456789abcdef"} {
			url := sh.s[name].URL() + path
			code, h, raw := call(t, "", "GET", url, nil, nil)
			assertChallenge(t, name+path+" without a token", code, h, raw)
			if code, _, raw := call(t, ann.Token, "GET", url, nil, nil); code != http.StatusForbidden {
				t.Errorf("%s%s with a user's token: status %d, want 403: %.200s", name, path, code, raw)
			}
			if code, _, raw := call(t, sh.admin, "GET", url, nil, nil); code != http.StatusOK {
				t.Errorf("%s%s with the operator token: status %d, want 200: %.200s", name, path, code, raw)
			}
		}
		// Health checks stay open: orchestrators probe them without tokens.
		mustCall(t, http.StatusOK, "", "GET", sh.s[name].URL()+"/livez", nil, nil)
	}
}

// tamper returns token with its payload's role set to admin, keeping the
// original signature.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	claims["role"] = string(auth.RoleAdmin)
	if payload, err = json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestExpiredOrForgedTokenIsRefused(t *testing.T) {
	sh := newSignedShop(t)
	ann := sh.signUpAndIn(t, "Ann")
	sh.waitViewAs(t, ann.Token, ann.UserID, []product{})

	other, _, err := auth.Ensure(t.TempDir()) // a key these services do not know
	if err != nil {
		t.Fatal(err)
	}
	mint := func(i *auth.Issuer, role auth.Role) string {
		t.Helper()
		var tok string
		var err error
		if role == auth.RoleAdmin {
			tok, _, err = i.IssueOperator(time.Hour)
		} else {
			tok, _, err = i.Issue(ann.UserID, role)
		}
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	stranger := &auth.Issuer{Key: other}
	impostor := &auth.Issuer{Key: auth.SigningKey{ID: sh.key.ID, Private: other.Private}} // our key id, another key
	// Two hours ago: its user tokens (15 minutes) and operator tokens (an
	// hour) are long expired, well past auth.Leeway.
	past := &auth.Issuer{Key: sh.key, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}

	for _, tc := range []struct{ name, user, admin string }{
		{"signed by another key", mint(stranger, auth.RoleUser), mint(stranger, auth.RoleAdmin)},
		{"another key under this key's id", mint(impostor, auth.RoleUser), mint(impostor, auth.RoleAdmin)},
		{"changed after signing", tamper(t, ann.Token), tamper(t, ann.Token)},
		{"expired", mint(past, auth.RoleUser), mint(past, auth.RoleAdmin)},
		{"not a token", "not-a-token", "not.a.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []struct {
				what, token, method, url string
				body                     any
			}{
				{"Ann's products on query", tc.user, "GET", sh.userProductsURL(ann.UserID), nil},
				{"Ann's user", tc.user, "GET", fmt.Sprintf("%s/users/%d", sh.s["users"].URL(), ann.UserID), nil},
				{"an order for Ann", tc.user, "POST", sh.s["orders"].URL() + "/orders", map[string]int64{"userId": ann.UserID, "productId": 1}},
				{"a product, as an admin", tc.admin, "POST", sh.s["products"].URL() + "/products", map[string]string{"title": "forged", "image": "forged.png"}},
				{"metrics, as an admin", tc.admin, "GET", sh.s["query"].URL() + "/metrics", nil},
			} {
				code, h, raw := call(t, r.token, r.method, r.url, r.body, nil)
				assertChallenge(t, r.what, code, h, raw)
				if c := h.Get("WWW-Authenticate"); !strings.Contains(c, `error="invalid_token"`) {
					t.Errorf("%s: WWW-Authenticate %q, want error=\"invalid_token\"", r.what, c)
				}
			}
		})
	}
	// None of it made anything, and Ann's own token still works.
	mustCall(t, http.StatusNotFound, "", "GET", sh.s["products"].URL()+"/products/1", nil, nil)
	var list []idOnly
	mustCall(t, http.StatusOK, ann.Token, "GET", fmt.Sprintf("%s/orders?userId=%d", sh.s["orders"].URL(), ann.UserID), nil, &list)
	if len(list) != 0 {
		t.Errorf("Ann has orders %v after forged requests, want none", list)
	}
	sh.waitViewAs(t, ann.Token, ann.UserID, []product{})
}
