package auth_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldev/herald/auth"
)

// issueWith signs a token for user 1 with key at the clock's time.
func issueWith(t *testing.T, key auth.SigningKey, c *clock) string {
	t.Helper()
	tok, _, err := (&auth.Issuer{Key: key, Now: c.Now}).Issue(1, auth.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fileVerifier(t *testing.T, dir string, c *clock) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifierFile(filepath.Join(dir, auth.KeySetFile))
	if err != nil {
		t.Fatal(err)
	}
	v.Now = c.Now
	return v
}

func TestTokensSurviveRotation(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	oldKey, _, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	running := fileVerifier(t, dir, c) // built before the rotation
	before := issueWith(t, oldKey, c)
	if _, err := running.Verify(before); err != nil {
		t.Fatal(err)
	}

	newKey, err := auth.Rotate(dir)
	if err != nil {
		t.Fatal(err)
	}
	after := issueWith(t, newKey, c)
	fresh := fileVerifier(t, dir, c) // built after it

	for _, tc := range []struct {
		name string
		v    *auth.Verifier
		tok  string
	}{
		{"running verifier, token signed before", running, before},
		{"running verifier, token signed after (re-reads jwks.json)", running, after},
		{"new verifier, token signed before (old key kept)", fresh, before},
		{"new verifier, token signed after", fresh, after},
	} {
		if _, err := tc.v.Verify(tc.tok); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestVerifierRereadsTheKeySetAtMostEveryTenSeconds(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	if _, _, err := auth.Ensure(dir); err != nil {
		t.Fatal(err)
	}
	v := fileVerifier(t, dir, c)

	k2, _ := auth.Rotate(dir)
	if _, err := v.Verify(issueWith(t, k2, c)); err != nil {
		t.Fatalf("first unknown kid did not re-read the file: %v", err)
	}

	k3, _ := auth.Rotate(dir)
	tok3 := issueWith(t, k3, c)
	c.Advance(9 * time.Second)
	if _, err := v.Verify(tok3); !errors.Is(err, auth.ErrUnknownKey) {
		t.Fatalf("9s after a re-read: err = %v, want ErrUnknownKey (the file must not be read again yet)", err)
	}
	c.Advance(time.Second)
	if _, err := v.Verify(tok3); err != nil {
		t.Fatalf("10s after a re-read: %v, want the new key picked up", err)
	}
}

func TestTokenOfAKeyRotatedOutIsRefused(t *testing.T) {
	dir, c := t.TempDir(), newClock()
	first, _, err := auth.Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok := issueWith(t, first, c)
	for range auth.KeepKeys {
		if _, err := auth.Rotate(dir); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fileVerifier(t, dir, c).Verify(tok); !errors.Is(err, auth.ErrUnknownKey) {
		t.Errorf("after %d rotations: err = %v, want ErrUnknownKey", auth.KeepKeys, err)
	}
}

func TestNewVerifierFileNeedsAReadableKeySet(t *testing.T) {
	if _, err := auth.NewVerifierFile(filepath.Join(t.TempDir(), "jwks.json")); err == nil {
		t.Error("NewVerifierFile accepted a missing file")
	}
}
