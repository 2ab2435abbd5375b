package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldev/herald/auth"
)

// clock is a settable time source, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is an issuer and a verifier that share a key and a clock.
type fixture struct {
	clock  *clock
	key    auth.SigningKey
	issuer *auth.Issuer
	ver    *auth.Verifier
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	key, err := auth.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	set := &auth.KeySet{}
	set.Add(key.Public())
	c := newClock()
	v := auth.NewVerifier(func() *auth.KeySet { return set })
	v.Now = c.Now
	return &fixture{clock: c, key: key, issuer: &auth.Issuer{Key: key, Now: c.Now}, ver: v}
}

func (f *fixture) issue(t testing.TB, uid int64, role auth.Role) string {
	t.Helper()
	tok, _, err := f.issuer.Issue(uid, role)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIssuedTokenVerifies(t *testing.T) {
	f := newFixture(t)
	tok, exp, err := f.issuer.Issue(42, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(auth.DefaultTTL); !exp.Equal(want) {
		t.Errorf("exp = %v, want now + 15m = %v", exp, want)
	}
	c, err := f.ver.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.UserID != 42 || c.Role != auth.RoleUser || c.Subject != "42" || c.Issuer != "herald" ||
		len(c.Audience) != 1 || c.Audience[0] != "herald" || c.ID == "" ||
		!c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(f.clock.Now()) || !c.NotBefore.Equal(f.clock.Now()) {
		t.Errorf("claims = %+v", c)
	}
	header := decodeSegment(t, tok, 0)
	if header["alg"] != "EdDSA" || header["kid"] != f.key.ID {
		t.Errorf("header = %v, want alg EdDSA and kid %s", header, f.key.ID)
	}
	other := f.issue(t, 42, auth.RoleUser)
	if oc, _ := f.ver.Verify(other); oc == nil || oc.ID == c.ID {
		t.Error("two tokens share a jti")
	}
}

func TestOperatorToken(t *testing.T) {
	f := newFixture(t)
	tok, exp, err := f.issuer.IssueOperator(24 * time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.ver.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "operator" || c.UserID != 0 || !c.IsAdmin() || !exp.Equal(f.clock.Now().Add(24*time.Hour)) {
		t.Errorf("claims = %+v, exp %v", c, exp)
	}
	if !c.Owns(7) {
		t.Error("the operator does not own user 7's data")
	}
	if _, _, err := f.issuer.IssueOperator(0); err == nil {
		t.Error("IssueOperator(0) issued a token")
	}
}

func TestIssueRefusesWhatHeraldNeverIssues(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		iss  *auth.Issuer
		uid  int64
		role auth.Role
	}{
		{"user 0", f.issuer, 0, auth.RoleUser},
		{"negative user", f.issuer, -1, auth.RoleUser},
		{"unknown role", f.issuer, 1, "root"},
		{"no key", &auth.Issuer{}, 1, auth.RoleUser},
		{"negative ttl", &auth.Issuer{Key: f.key, TTL: -time.Minute}, 1, auth.RoleUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tok, _, err := tc.iss.Issue(tc.uid, tc.role); err == nil || tok != "" {
				t.Errorf("Issue = %q, %v; want no token and an error", tok, err)
			}
		})
	}
}

func TestExpiredTokenIsRefused(t *testing.T) {
	for _, cached := range []bool{false, true} {
		name := map[bool]string{false: "first use", true: "verified before"}[cached]
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			tok := f.issue(t, 1, auth.RoleUser)
			if cached {
				if _, err := f.ver.Verify(tok); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Advance(auth.DefaultTTL + auth.Leeway - time.Second)
			if _, err := f.ver.Verify(tok); err != nil {
				t.Fatalf("within the leeway: %v", err)
			}
			f.clock.Advance(time.Second)
			if _, err := f.ver.Verify(tok); !errors.Is(err, auth.ErrExpired) {
				t.Fatalf("past exp + leeway: err = %v, want ErrExpired", err)
			}
		})
	}
}

func TestTokenFromTheFutureIsRefused(t *testing.T) {
	f := newFixture(t)
	f.clock.Advance(time.Minute)
	tok := f.issue(t, 1, auth.RoleUser)
	f.clock.Advance(-time.Minute)
	if _, err := f.ver.Verify(tok); !errors.Is(err, auth.ErrNotYetValid) {
		t.Errorf("err = %v, want ErrNotYetValid", err)
	}
}

func TestTokenSignedByAnUnknownKeyIsRefused(t *testing.T) {
	f, stranger := newFixture(t), newFixture(t)
	tok := stranger.issue(t, 1, auth.RoleAdmin)
	if _, err := f.ver.Verify(tok); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("err = %v, want ErrUnknownKey", err)
	}
	// The stranger's token under our kid: the signature gives it away.
	forged := signWith(t, stranger.key, f.key.ID, validClaims(f.clock.Now()))
	if _, err := f.ver.Verify(forged); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("under our kid: err = %v, want ErrBadSignature", err)
	}
}

func TestAlgorithmConfusionIsRefused(t *testing.T) {
	f := newFixture(t)
	claims := validClaims(f.clock.Now())
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"] = f.key.ID
	noneTok, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"] = f.key.ID
	hsTok, err := hs.SignedString([]byte(f.key.Public()))
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"alg none": noneTok, "HS256 keyed with the public key": hsTok} {
		if c, err := f.ver.Verify(tok); !errors.Is(err, auth.ErrBadSignature) || c != nil {
			t.Errorf("%s: Verify = %v, %v; want nil, ErrBadSignature", name, c, err)
		}
	}
}

func TestAlteredPayloadIsRefused(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t, 42, auth.RoleUser)
	parts := strings.Split(tok, ".")
	payload := decodeSegment(t, tok, 1)
	payload["role"] = "admin"
	data, _ := json.Marshal(payload)
	parts[1] = base64.RawURLEncoding.EncodeToString(data)
	if _, err := f.ver.Verify(strings.Join(parts, ".")); !errors.Is(err, auth.ErrBadSignature) {
		t.Errorf("err = %v, want ErrBadSignature", err)
	}
}

func TestMalformedTokenIsRefused(t *testing.T) {
	f := newFixture(t)
	for _, tok := range []string{"", "abc", "a.b.c", "a.b", strings.Repeat("A", 5000)} {
		if _, err := f.ver.Verify(tok); !errors.Is(err, auth.ErrMalformed) {
			t.Errorf("Verify(%.20q) err = %v, want ErrMalformed", tok, err)
		}
	}
}

func TestClaimsHeraldNeverIssuesAreRefused(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	for _, tc := range []struct {
		name   string
		change func(*auth.Claims)
	}{
		{"other issuer", func(c *auth.Claims) { c.Issuer = "elsewhere" }},
		{"other audience", func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"elsewhere"} }},
		{"no exp", func(c *auth.Claims) { c.ExpiresAt = nil }},
		{"unknown role", func(c *auth.Claims) { c.Role = "root" }},
		{"sub not the uid", func(c *auth.Claims) { c.Subject = "7" }},
		{"operator without the admin role", func(c *auth.Claims) { c.Subject, c.UserID, c.Role = "operator", 0, auth.RoleUser }},
		{"user 0", func(c *auth.Claims) { c.Subject, c.UserID = "0", 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validClaims(now)
			tc.change(&c)
			if _, err := f.ver.Verify(signWith(t, f.key, f.key.ID, c)); !errors.Is(err, auth.ErrBadClaims) {
				t.Errorf("err = %v, want ErrBadClaims", err)
			}
		})
	}
}

func TestVerifiedTokenIsCachedButNotShared(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t, 5, auth.RoleUser)
	c, err := f.ver.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	c.Role, c.UserID = auth.RoleAdmin, 6
	again, err := f.ver.Verify(tok)
	if err != nil || again.Role != auth.RoleUser || again.UserID != 5 {
		t.Errorf("second Verify = %+v, %v; a caller's change leaked into the cache", again, err)
	}
	if n := auth.Cached(f.ver); n != 1 {
		t.Errorf("%d tokens cached, want 1", n)
	}
}

func TestCachedTokenIsRefusedOnceItsKeyLeavesTheSet(t *testing.T) {
	key, _ := auth.NewSigningKey()
	var set atomic.Pointer[auth.KeySet]
	set.Store(&auth.KeySet{})
	set.Load().Add(key.Public())
	v := auth.NewVerifier(set.Load)
	tok, _, _ := (&auth.Issuer{Key: key}).Issue(1, auth.RoleUser)
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	set.Store(&auth.KeySet{})
	if _, err := v.Verify(tok); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("err = %v, want ErrUnknownKey", err)
	}
}

func TestCacheStaysBounded(t *testing.T) {
	f := newFixture(t)
	auth.SetCacheSize(f.ver, 100)
	for i := range 150 {
		tok := f.issue(t, int64(i+1), auth.RoleUser)
		if _, err := f.ver.Verify(tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.Cached(f.ver); n > 100 {
		t.Errorf("%d tokens cached, want at most 100", n)
	}
}

func TestOwns(t *testing.T) {
	user := &auth.Claims{UserID: 5, Role: auth.RoleUser}
	admin := &auth.Claims{UserID: 9, Role: auth.RoleAdmin}
	var none *auth.Claims
	for _, tc := range []struct {
		name string
		c    *auth.Claims
		uid  int64
		want bool
	}{
		{"user, own data", user, 5, true},
		{"user, another's data", user, 6, false},
		{"admin, another's data", admin, 6, true},
		{"no claims", none, 5, false},
	} {
		if got := tc.c.Owns(tc.uid); got != tc.want {
			t.Errorf("%s: Owns = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	b.Run("uncached", func(b *testing.B) {
		f := newFixture(b)
		auth.WithoutCache(f.ver)
		tok := f.issue(b, 1, auth.RoleUser)
		for b.Loop() {
			if _, err := f.ver.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		f := newFixture(b)
		tok := f.issue(b, 1, auth.RoleUser)
		for b.Loop() {
			if _, err := f.ver.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		f := newFixture(b)
		tok := f.issue(b, 1, auth.RoleUser)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.ver.Verify(tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func validClaims(now time.Time) auth.Claims {
	return auth.Claims{UserID: 1, Role: auth.RoleAdmin, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "herald", Subject: "1", Audience: jwt.ClaimStrings{"herald"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}
}

func signWith(t *testing.T, k auth.SigningKey, kid string, c auth.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.Private)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	data, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
