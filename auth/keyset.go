package auth

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
)

// KeySet is a set of Ed25519 public keys by key id, oldest first, kept as a
// JWK set (RFC 7517, with the OKP key type of RFC 8037):
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":"…","kid":"…","alg":"EdDSA","use":"sig"}]}
//
// Key ids are always the keys' RFC 7638 thumbprints (KeyID). The zero value
// is an empty set. A KeySet is safe for concurrent use.
type KeySet struct {
	mu   sync.RWMutex
	keys []publicKey // oldest first
}

type publicKey struct {
	id  string
	pub ed25519.PublicKey
}

// Add adds pub to the set as its newest key and returns its key id. A key
// already in the set keeps its place. A pub that is not
// ed25519.PublicKeySize bytes long is not added, and Add returns "".
func (s *KeySet) Add(pub ed25519.PublicKey) string {
	if len(pub) != ed25519.PublicKeySize {
		return ""
	}
	id := KeyID(pub)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index(id) < 0 {
		s.keys = append(s.keys, publicKey{id: id, pub: slices.Clone(pub)})
	}
	return id
}

// Key returns the public key with the given id, and whether there is one.
// The key is shared with the set and must not be modified. A nil set has no
// keys.
func (s *KeySet) Key(kid string) (ed25519.PublicKey, bool) {
	if s == nil {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if i := s.index(kid); i >= 0 {
		return s.keys[i].pub, true
	}
	return nil, false
}

// IDs returns the key ids in the set, oldest first; none for a nil set.
func (s *KeySet) IDs() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, len(s.keys))
	for i, k := range s.keys {
		ids[i] = k.id
	}
	return ids
}

func (s *KeySet) index(kid string) int {
	return slices.IndexFunc(s.keys, func(k publicKey) bool { return k.id == kid })
}

// keepNewest drops all but the n newest keys.
func (s *KeySet) keepNewest(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) > n {
		s.keys = slices.Clone(s.keys[len(s.keys)-n:])
	}
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	D   string `json:"d,omitempty"` // a private key; refused
}

type jwks struct {
	Keys *[]jwk `json:"keys"`
}

// MarshalJSON returns the set as a JWK set, oldest key first.
func (s *KeySet) MarshalJSON() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]jwk, len(s.keys))
	for i, k := range s.keys {
		keys[i] = jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.pub), Kid: k.id, Alg: "EdDSA", Use: "sig"}
	}
	return json.Marshal(jwks{Keys: &keys})
}

// UnmarshalJSON replaces the set with the keys of a JWK set. It refuses the
// whole set, saying which key is at fault, if the "keys" member is missing or
// any key is not a public Ed25519 signing key: another kty or crv, an alg
// other than EdDSA, a use other than sig, a private part "d", an x that is
// not 32 bytes of unpadded base64url, or a kid that is not the key's
// thumbprint. A key listed twice is kept once.
func (s *KeySet) UnmarshalJSON(data []byte) error {
	var doc jwks
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not a JWK set: %w", err)
	}
	if doc.Keys == nil {
		return fmt.Errorf(`not a JWK set: no "keys" member`)
	}
	var keys []publicKey
	for i, k := range *doc.Keys {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("JWK set key %d (kid %q): "+format, append([]any{i, k.Kid}, args...)...)
		}
		switch {
		case k.Kty != "OKP" || k.Crv != "Ed25519":
			return bad("kty %q crv %q: only OKP Ed25519 keys are supported", k.Kty, k.Crv)
		case k.Alg != "" && k.Alg != "EdDSA":
			return bad("alg %q: only EdDSA is supported", k.Alg)
		case k.Use != "" && k.Use != "sig":
			return bad("use %q: only sig is supported", k.Use)
		case k.D != "":
			return bad(`holds a private key ("d"); a key set must hold public keys only`)
		}
		pub, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return bad("x is not %d bytes of unpadded base64url", ed25519.PublicKeySize)
		}
		id := KeyID(pub)
		if k.Kid != "" && k.Kid != id {
			return bad("kid does not match the key's RFC 7638 thumbprint %q", id)
		}
		if !slices.ContainsFunc(keys, func(p publicKey) bool { return p.id == id }) {
			keys = append(keys, publicKey{id: id, pub: pub})
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
	return nil
}

// ReadKeySet reads a JWK set file. The error wraps fs.ErrNotExist when the
// file is missing and names the file and the key at fault when it does not
// parse (see UnmarshalJSON).
func ReadKeySet(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	s := &KeySet{}
	if err := s.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("read key set %s: %w", path, err)
	}
	return s, nil
}

// WriteKeySet writes s to path as indented JSON, mode 0644 (the keys are
// public), creating the parent directory with mode 0700 if missing. It
// writes a temporary file and renames it over path, so a reader sees the old
// set or the new one, never a part.
func WriteKeySet(path string, s *KeySet) error {
	data, err := s.MarshalJSON()
	if err != nil {
		return fmt.Errorf("write key set %s: %w", path, err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, data, "", "  "); err != nil {
		return fmt.Errorf("write key set %s: %w", path, err)
	}
	out.WriteByte('\n')
	if err := writeFileAtomic(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write key set: %w", err)
	}
	return nil
}
