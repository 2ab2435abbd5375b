package auth_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldev/herald"
	"github.com/heraldev/herald/auth"
	"golang.org/x/crypto/argon2"
)

func TestPasswordRoundTrip(t *testing.T) {
	pw := "correct horse battery staple"
	hash, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=1,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with the documented parameters", hash)
	}
	if ok, err := auth.CheckPassword(hash, pw); !ok || err != nil {
		t.Errorf("CheckPassword(right password) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := auth.CheckPassword(hash, pw+"!"); ok || err != nil {
		t.Errorf("CheckPassword(wrong password) = %v, %v; want false, nil", ok, err)
	}
	again, _ := auth.HashPassword(pw)
	if again == hash {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
}

func TestHashPasswordRefusesBadLengths(t *testing.T) {
	for _, tc := range []struct {
		name string
		pw   string
		ok   bool
	}{
		{"empty", "", false},
		{"one short of the minimum", strings.Repeat("a", auth.MinPasswordLength-1), false},
		{"the minimum", strings.Repeat("a", auth.MinPasswordLength), true},
		{"the maximum", strings.Repeat("a", auth.MaxPasswordLength), true},
		{"one past the maximum", strings.Repeat("a", auth.MaxPasswordLength+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.HashPassword(tc.pw)
			if tc.ok {
				if err != nil {
					t.Fatalf("HashPassword: %v", err)
				}
				return
			}
			var he *herald.Error
			if !errors.As(err, &he) || he.Code != herald.EInvalid || he.Field != "body.password" {
				t.Fatalf("err = %v; want a *herald.Error with code %q and field body.password", err, herald.EInvalid)
			}
		})
	}
}

func TestCheckPasswordRefusesTamperedHashes(t *testing.T) {
	good, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", argon2id, v=19, params, salt, hash
	join := func(parts ...string) string { return strings.Join(parts, "$") }
	for _, tc := range []struct{ name, hash string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", join("", "argon2i", f[2], f[3], f[4], f[5])},
		{"other version", join("", "argon2id", "v=16", f[3], f[4], f[5])},
		{"no version", join("", "argon2id", f[3], f[4], f[5])},
		{"params reordered", join("", "argon2id", f[2], "t=1,m=19456,p=1", f[4], f[5])},
		{"param not a number", join("", "argon2id", f[2], "m=lots,t=1,p=1", f[4], f[5])},
		{"param with a sign", join("", "argon2id", f[2], "m=+19456,t=1,p=1", f[4], f[5])},
		{"zero time", join("", "argon2id", f[2], "m=19456,t=0,p=1", f[4], f[5])},
		{"zero parallelism", join("", "argon2id", f[2], "m=19456,t=1,p=0", f[4], f[5])},
		{"parallelism past 255", join("", "argon2id", f[2], "m=19456,t=1,p=256", f[4], f[5])},
		{"memory of 64 GiB", join("", "argon2id", f[2], "m=67108864,t=1,p=1", f[4], f[5])},
		{"time of a million", join("", "argon2id", f[2], "m=19456,t=1000000,p=1", f[4], f[5])},
		{"extra param", join("", "argon2id", f[2], f[3]+",k=1", f[4], f[5])},
		{"padded salt", join("", "argon2id", f[2], f[3], f[4]+"==", f[5])},
		{"salt not base64", join("", "argon2id", f[2], f[3], "!!!!!!!!!!!!", f[5])},
		{"short salt", join("", "argon2id", f[2], f[3], "c2FsdA", f[5])},
		{"no hash", join("", "argon2id", f[2], f[3], f[4], "")},
		{"extra field", good + "$x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := auth.CheckPassword(tc.hash, "correct horse battery staple"); ok || err == nil {
				t.Errorf("CheckPassword(%q) = %v, %v; want false and an error", tc.hash, ok, err)
			}
		})
	}
}

func TestCheckPasswordReadsParametersFromTheHash(t *testing.T) {
	pw := "correct horse battery staple"
	salt := []byte("sixteen byte slt")
	key := argon2.IDKey([]byte(pw), salt, 2, 64, 2, 24)
	b64 := base64.RawStdEncoding
	hash := fmt.Sprintf("$argon2id$v=19$m=64,t=2,p=2$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	if ok, err := auth.CheckPassword(hash, pw); !ok || err != nil {
		t.Errorf("CheckPassword(hash with m=64,t=2,p=2 and a 24-byte key) = %v, %v; want true, nil", ok, err)
	}
}

func TestDummyHashMatchesCurrentParameters(t *testing.T) {
	hash, err := auth.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	params := func(h string) string { return strings.Join(strings.Split(h, "$")[:4], "$") }
	if params(auth.DummyHash) != params(hash) {
		t.Errorf("DummyHash has parameters %q, HashPassword uses %q: regenerate DummyHash", params(auth.DummyHash), params(hash))
	}
	if _, err := auth.CheckPassword(auth.DummyHash, "anything at all"); err != nil {
		t.Errorf("DummyHash does not parse: %v", err)
	}
}

func TestCheckPasswordOrDummy(t *testing.T) {
	pw := "correct horse battery staple"
	hash, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		hash  string
		found bool
		pw    string
		want  bool
	}{
		{"right password", hash, true, pw, true},
		{"wrong password", hash, true, "not the password", false},
		{"unknown account", "", false, pw, false},
		{"unknown account, hash given anyway", hash, false, pw, false},
		{"malformed stored hash", "$argon2id$garbage", true, pw, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := auth.CheckPasswordOrDummy(tc.hash, tc.found, tc.pw); got != tc.want {
				t.Errorf("CheckPasswordOrDummy = %v, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
