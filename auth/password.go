package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldev/herald"
	"golang.org/x/crypto/argon2"
)

// Password length limits, in bytes. The minimum is the one rule that makes a
// guessed password expensive; the maximum bounds the work an unauthenticated
// caller can ask for.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

// Argon2id parameters of new hashes: OWASP's minimum for Argon2id (19 MiB,
// one pass, one lane), which takes about 15 ms on one core of a current
// server CPU. One lane keeps
// a login on one core, so a 2-core machine still serves other requests while
// two people sign in. Each hash holds 19 MiB while it runs, so callers that
// hash for unauthenticated requests should bound how many run at once.
//
// Changing them is safe: CheckPassword reads the parameters of each stored
// hash from the hash itself. DummyHash must then be regenerated (a test
// checks that its parameters match these).
const (
	argonTime    = 1
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds on the parameters CheckPassword accepts from a stored hash, so that a
// corrupt or planted hash cannot make a login allocate gigabytes or spin.
const (
	maxArgonMemory = 1 << 20 // KiB (1 GiB)
	maxArgonTime   = 16
)

// DummyHash is the hash of a random password nobody knows, made with the
// same parameters as HashPassword. CheckPasswordOrDummy checks against it
// when the account does not exist, so that a login for an unknown email
// takes as long as one with a wrong password.
const DummyHash = "$argon2id$v=19$m=19456,t=1,p=1$/m9VKKkMi3EejxXwzlkQGw$KQosfmpvnM3qWIMXt1sDjjHla/oRN82zi3vCOcK0YsQ"

var b64 = base64.RawStdEncoding.Strict()

// HashPassword returns the Argon2id hash of pw in the PHC string format
//
//	$argon2id$v=19$m=19456,t=1,p=1$<salt>$<hash>
//
// with a random 16-byte salt and both salt and hash in unpadded standard
// base64. A password shorter than MinPasswordLength or longer than
// MaxPasswordLength bytes is refused with a *herald.Error of code
// herald.EInvalid and Field "body.password". It is safe for concurrent use.
func HashPassword(pw string) (string, error) {
	switch {
	case len(pw) < MinPasswordLength:
		return "", herald.FieldError("body.password", "the password is too short: use at least %d characters", MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return "", herald.FieldError("body.password", "the password is too long: use at most %d bytes", MaxPasswordLength)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	p := phc{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	p.hash = p.derive(pw, argonKeyLen)
	return p.String(), nil
}

// CheckPassword reports whether pw is the password hash was made from,
// comparing in constant time. It accepts any Argon2id parameters the hash
// encodes (within sane bounds), so hashes made with older parameters keep
// working. A hash that is not a well-formed argon2id PHC string returns
// false and an error; a password longer than MaxPasswordLength returns false
// and no error without hashing, since no stored hash can match it.
// It is safe for concurrent use.
func CheckPassword(hash, pw string) (bool, error) {
	p, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLength {
		return false, nil
	}
	got := p.derive(pw, uint32(len(p.hash)))
	return subtle.ConstantTimeCompare(got, p.hash) == 1, nil
}

// CheckPasswordOrDummy is CheckPassword for a login: found says whether the
// account exists. When it does not, or when its hash is malformed, pw is
// checked against DummyHash so the answer takes the same time, and the result
// is false. The caller learns only yes or no, which is all a login may tell.
func CheckPasswordOrDummy(hash string, found bool, pw string) bool {
	if found {
		if ok, err := CheckPassword(hash, pw); err == nil {
			return ok
		}
	}
	_, _ = CheckPassword(DummyHash, pw)
	return false
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, hash   []byte
}

func (p phc) derive(pw string, keyLen uint32) []byte {
	return argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, keyLen)
}

func (p phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(p.salt), b64.EncodeToString(p.hash))
}

var errMalformedHash = errors.New("the stored password hash is not an argon2id PHC string")

// parsePHC parses $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly: fields in
// that order, decimal numbers, unpadded base64, parameters within bounds.
func parsePHC(s string) (phc, error) {
	bad := func(what string) (phc, error) {
		return phc{}, fmt.Errorf("%w: %s", errMalformedHash, what)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("unsupported version " + strconv.Quote(f[2]))
	}
	params := strings.Split(f[3], ",")
	if len(params) != 3 {
		return bad("want parameters m=…,t=…,p=…")
	}
	var n [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(params[i], name)
		if !ok || v == "" || v[0] < '1' || v[0] > '9' {
			return bad("want parameters m=…,t=…,p=… as positive decimals")
		}
		x, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + strconv.Quote(params[i]) + " is out of range")
		}
		n[i] = x
	}
	p := phc{memory: uint32(n[0]), time: uint32(n[1])}
	switch {
	case n[2] > 255:
		return bad("parallelism above 255")
	case n[0] > maxArgonMemory || n[0] < 8*n[2]:
		return bad("memory out of range")
	case n[1] > maxArgonTime:
		return bad("time out of range")
	}
	p.threads = uint8(n[2])
	var err error
	if p.salt, err = b64.DecodeString(f[4]); err != nil || len(p.salt) < 8 || len(p.salt) > 64 {
		return bad("salt is not 8 to 64 bytes of unpadded base64")
	}
	if p.hash, err = b64.DecodeString(f[5]); err != nil || len(p.hash) < 16 || len(p.hash) > 128 {
		return bad("hash is not 16 to 128 bytes of unpadded base64")
	}
	return p, nil
}
