package auth

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The errors Verify returns, unwrapped. Each says what is wrong with the
// token and nothing more, so its text may be shown to the caller.
var (
	ErrMalformed    = errors.New("the token is malformed")
	ErrExpired      = errors.New("the token has expired")
	ErrNotYetValid  = errors.New("the token is not valid yet")
	ErrUnknownKey   = errors.New("the token was signed by a key this server does not know")
	ErrBadSignature = errors.New("the token's signature is invalid")
	ErrBadClaims    = errors.New("the token's claims are not those of a herald access token")
)

const (
	// Leeway is how far the clocks of the signer and a verifier may differ:
	// a token is accepted until Leeway after it expires.
	Leeway = 30 * time.Second
	// reloadInterval is how often at most a file-backed Verifier re-reads
	// its key set when tokens name key ids it does not know.
	reloadInterval = 10 * time.Second
	// maxTokenLength bounds the work a bogus token can cause; Herald's
	// tokens are about 400 bytes.
	maxTokenLength = 4096
)

// Verifier checks Herald access tokens against a set of public keys,
// accepting only EdDSA tokens with iss and aud "herald", an exp, and claims
// Herald issues (see Claims). It remembers up to 10,000 tokens it has
// verified, until they expire, so a token used again costs a map lookup
// rather than a signature check; a remembered token whose key has left the
// key set is checked again (and refused).
//
// Now is the clock (time.Now if nil); set it before first use. Make a
// Verifier with NewVerifier or NewVerifierFile (the zero value cannot
// verify). It is safe for concurrent use.
type Verifier struct {
	Now func() time.Time

	keys   func() *KeySet
	file   *fileKeys // set by NewVerifierFile
	parser *jwt.Parser
	cache  *tokenCache
}

// NewVerifier returns a Verifier that asks keys for the current key set on
// each verification; keys must be safe for concurrent use and cheap. A nil
// keys, or a nil set, knows no keys.
func NewVerifier(keys func() *KeySet) *Verifier {
	if keys == nil {
		keys = func() *KeySet { return nil }
	}
	v := &Verifier{keys: keys, cache: newTokenCache(cacheSize)}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(v.now),
		jwt.WithStrictDecoding(),
	)
	return v
}

// NewVerifierFile returns a Verifier for the JWK set in the file at path
// (jwks.json). When a token names a key id the set does not have, it
// re-reads the file, at most once every 10 seconds by the Verifier's clock
// (the first time at once), so a key another process rotated in is known
// without a restart while bogus key ids cannot make it read the disk on
// every request. A re-read that fails keeps the keys it had. It returns an
// error if the file cannot be read or parsed now.
func NewVerifierFile(path string) (*Verifier, error) {
	set, err := ReadKeySet(path)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	f := &fileKeys{path: path}
	f.set.Store(set)
	v := NewVerifier(f.set.Load)
	v.file = f
	return v, nil
}

// Verify returns the claims of token if it is valid now. Otherwise it
// returns nil and one of ErrMalformed, ErrExpired, ErrNotYetValid,
// ErrUnknownKey, ErrBadSignature (including any algorithm but EdDSA) or
// ErrBadClaims. The returned Claims are the caller's to change, except that
// Audience and the times are shared with other callers and must not be
// modified.
func (v *Verifier) Verify(token string) (*Claims, error) {
	now := v.now()
	if e, ok := v.cache.get(token, now); ok {
		if _, ok := v.keys().Key(e.kid); ok {
			c := *e.claims
			return &c, nil
		}
	}
	if len(token) > maxTokenLength {
		return nil, ErrMalformed
	}
	var c Claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	if err != nil {
		return nil, classify(err)
	}
	if c.check() != nil {
		return nil, ErrBadClaims
	}
	kid, _ := tok.Header["kid"].(string)
	stored := c
	v.cache.put(token, cached{claims: &stored, kid: kid, until: c.ExpiresAt.Add(Leeway)})
	return &c, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// keyFor is the jwt.Keyfunc: the public key the token's kid names.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, ErrUnknownKey
	}
	if k, ok := v.keys().Key(kid); ok {
		return k, nil
	}
	if v.file != nil {
		if k, ok := v.file.refresh(v.now()).Key(kid); ok {
			return k, nil
		}
	}
	return nil, ErrUnknownKey
}

// classify maps the jwt package's errors to ours, the most actionable first.
func classify(err error) error {
	switch {
	case errors.Is(err, ErrUnknownKey):
		return ErrUnknownKey
	case errors.Is(err, jwt.ErrTokenMalformed):
		return ErrMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ErrNotYetValid
	default:
		return ErrBadClaims
	}
}

// fileKeys is a key set loaded from a file, re-read on demand at most once
// per reloadInterval.
type fileKeys struct {
	path string
	set  atomic.Pointer[KeySet]

	mu   sync.Mutex
	last time.Time // when the file was last re-read; zero if never
}

// refresh re-reads the file unless it did so less than reloadInterval
// before now, and returns the current set.
func (f *fileKeys) refresh(now time.Time) *KeySet {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := now.Sub(f.last); !f.last.IsZero() && d >= 0 && d < reloadInterval {
		return f.set.Load()
	}
	f.last = now
	if s, err := ReadKeySet(f.path); err == nil {
		f.set.Store(s)
	}
	return f.set.Load()
}
