package auth_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/heraldev/herald/auth"
)

// RFC 8037, appendix A.3: the thumbprint of the example Ed25519 key.
func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := auth.KeyID(x), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
}

func TestSigningKeyFileRoundTrip(t *testing.T) {
	k, err := auth.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "signing.pem")
	if err := auth.WriteSigningKey(path, k); err != nil {
		t.Fatal(err)
	}
	got, err := auth.ReadSigningKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || !got.Private.Equal(k.Private) {
		t.Errorf("read key %s, wrote %s", got.ID, k.ID)
	}
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700|fs.ModeDir)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only signing.pem (a temporary file was left?)", len(entries))
	}
}

func TestReadSigningKeyRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	for _, tc := range []struct{ name, content, says string }{
		{"not PEM", "hello", "PRIVATE KEY"},
		{"other PEM type", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})), "PRIVATE KEY"},
		{"not PKCS #8", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})), "signing key"},
		{"an ECDSA key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "want an Ed25519 key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			os.WriteFile(path, []byte(tc.content), 0o600)
			if _, err := auth.ReadSigningKey(path); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want one saying %q", err, tc.says)
			}
		})
	}
	if _, err := auth.ReadSigningKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestKeySetJSON(t *testing.T) {
	var s auth.KeySet
	a, b := newPub(t), newPub(t)
	ida, idb := s.Add(a), s.Add(b)
	if again := s.Add(a); again != ida {
		t.Errorf("Add of a known key returned %q, want %q", again, ida)
	}
	if got := s.IDs(); !slices.Equal(got, []string{ida, idb}) {
		t.Errorf("IDs = %v, want [%s %s] (oldest first, no duplicates)", got, ida, idb)
	}
	if s.Add(ed25519.PublicKey{1, 2, 3}) != "" {
		t.Error("Add accepted a 3-byte key")
	}
	data, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(a) + `","kid":"` + ida + `","alg":"EdDSA","use":"sig"},`
	if !strings.HasPrefix(string(data), want) {
		t.Errorf("JSON %s\nwant it to start %s", data, want)
	}
	var back auth.KeySet
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if k, ok := back.Key(idb); !ok || !k.Equal(b) || !slices.Equal(back.IDs(), s.IDs()) {
		t.Errorf("after a round trip IDs = %v, want %v", back.IDs(), s.IDs())
	}
	if _, ok := back.Key("nope"); ok {
		t.Error("Key found an unknown kid")
	}
}

func TestKeySetRefusesOtherKeys(t *testing.T) {
	pub := newPub(t)
	x := base64.RawURLEncoding.EncodeToString(pub)
	key := func(fields string) string { return `{"keys":[{` + fields + `}]}` }
	for _, tc := range []struct{ name, json, says string }{
		{"not JSON", `{`, "not a JWK set"},
		{"no keys member", `{"kids":[]}`, `no "keys" member`},
		{"RSA", key(`"kty":"RSA","n":"AQAB","e":"AQAB"`), "only OKP Ed25519"},
		{"X25519", key(`"kty":"OKP","crv":"X25519","x":"` + x + `"`), "only OKP Ed25519"},
		{"EC P-256", key(`"kty":"EC","crv":"P-256","x":"` + x + `","y":"` + x + `"`), "only OKP Ed25519"},
		{"other alg", key(`"kty":"OKP","crv":"Ed25519","x":"` + x + `","alg":"ES256"`), "only EdDSA"},
		{"encryption key", key(`"kty":"OKP","crv":"Ed25519","x":"` + x + `","use":"enc"`), "only sig"},
		{"private key", key(`"kty":"OKP","crv":"Ed25519","x":"` + x + `","d":"` + x + `"`), "public keys only"},
		{"short x", key(`"kty":"OKP","crv":"Ed25519","x":"AQAB"`), "32 bytes"},
		{"padded x", key(`"kty":"OKP","crv":"Ed25519","x":"` + x + `="`), "32 bytes"},
		{"wrong kid", key(`"kty":"OKP","crv":"Ed25519","x":"` + x + `","kid":"mine"`), "thumbprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s auth.KeySet
			err := s.UnmarshalJSON([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want one saying %q", err, tc.says)
			}
		})
	}
}

func TestKeySetFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jwks.json")
	s := &auth.KeySet{}
	s.Add(newPub(t))
	if err := auth.WriteKeySet(path, s); err != nil {
		t.Fatal(err)
	}
	assertMode(t, path, 0o644)
	got, err := auth.ReadKeySet(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IDs(), s.IDs()) {
		t.Errorf("read IDs %v, wrote %v", got.IDs(), s.IDs())
	}
	if _, err := auth.ReadKeySet(path + ".missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
}

func TestEnsureCreatesOnceAndIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	k1, s1, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s1.Key(k1.ID); !ok {
		t.Fatalf("the set %v lacks the signing key %s", s1.IDs(), k1.ID)
	}
	assertMode(t, filepath.Join(dir, auth.SigningKeyFile), 0o600)
	assertMode(t, filepath.Join(dir, auth.KeySetFile), 0o644)
	assertMode(t, dir, 0o700|fs.ModeDir)
	pem1, _ := os.ReadFile(filepath.Join(dir, auth.SigningKeyFile))
	jwks1, _ := os.ReadFile(filepath.Join(dir, auth.KeySetFile))

	k2, s2, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	pem2, _ := os.ReadFile(filepath.Join(dir, auth.SigningKeyFile))
	jwks2, _ := os.ReadFile(filepath.Join(dir, auth.KeySetFile))
	if k2.ID != k1.ID || !slices.Equal(s2.IDs(), s1.IDs()) || !bytes.Equal(pem1, pem2) || !bytes.Equal(jwks1, jwks2) {
		t.Errorf("second Ensure changed the keys: %s %v, then %s %v", k1.ID, s1.IDs(), k2.ID, s2.IDs())
	}
}

func TestEnsureAtOnceAgreesOnOneKey(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, _, err := auth.Ensure(dir)
			if err != nil {
				t.Error(err)
			}
			ids[i] = k.ID
		})
	}
	wg.Wait()
	set, err := auth.ReadKeySet(filepath.Join(dir, auth.KeySetFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent Ensure returned different keys: %v", ids)
		}
	}
	if !slices.Equal(set.IDs(), ids[:1]) {
		t.Errorf("jwks.json holds %v, want only %s", set.IDs(), ids[0])
	}
}

func TestEnsureRefusesACorruptKeyRatherThanReplacingIt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, auth.SigningKeyFile)
	os.WriteFile(path, []byte("not a key"), 0o600)
	if _, _, err := auth.Ensure(dir); err == nil {
		t.Fatal("Ensure accepted a corrupt signing.pem")
	}
	if b, _ := os.ReadFile(path); string(b) != "not a key" {
		t.Error("Ensure replaced a corrupt signing.pem")
	}
}

func TestRotateKeepsTheNewestKeys(t *testing.T) {
	dir := t.TempDir()
	first, _, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{first.ID}
	for range 4 {
		k, err := auth.Rotate(dir)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, k.ID)
		cur, err := auth.ReadSigningKey(filepath.Join(dir, auth.SigningKeyFile))
		if err != nil || cur.ID != k.ID {
			t.Fatalf("after Rotate signing.pem holds %s, %v; want %s", cur.ID, err, k.ID)
		}
		assertMode(t, filepath.Join(dir, auth.SigningKeyFile), 0o600)
	}
	set, _ := auth.ReadKeySet(filepath.Join(dir, auth.KeySetFile))
	if got := set.IDs(); !slices.Equal(got, want[len(want)-auth.KeepKeys:]) {
		t.Errorf("after 4 rotations jwks.json holds %v, want the %d newest of %v", got, auth.KeepKeys, want)
	}
	again, _, err := auth.Ensure(dir)
	if err != nil || again.ID != want[len(want)-1] {
		t.Errorf("Ensure after Rotate returned %s, %v; want the rotated-in key %s", again.ID, err, want[len(want)-1])
	}
}

func newPub(t testing.TB) ed25519.PublicKey {
	t.Helper()
	k, err := auth.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func assertMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode(), want)
	}
}
