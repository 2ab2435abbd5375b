package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names Ensure and Rotate use inside a key directory.
const (
	SigningKeyFile = "signing.pem" // the current private key; mode 0600
	KeySetFile     = "jwks.json"   // the public keys that verify; mode 0644
	lockFile       = "keys.lock"
)

// KeepKeys is how many public keys Rotate keeps in jwks.json, the newest
// first. A token verifies as long as its key is kept, so rotating more than
// KeepKeys-1 times within one token lifetime cuts short the oldest tokens.
const KeepKeys = 3

// SigningKey is an Ed25519 private key with its key id, the RFC 7638 JWK
// thumbprint of its public key. Tokens carry the id in their kid header.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// Public returns the public half of k.
func (k SigningKey) Public() ed25519.PublicKey {
	return k.Private.Public().(ed25519.PublicKey)
}

// NewSigningKey returns a new random key. It fails only if the system's
// random source does.
func NewSigningKey() (SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	return SigningKey{ID: KeyID(pub), Private: priv}, nil
}

// KeyID returns the RFC 7638 thumbprint of an Ed25519 public key: the
// unpadded base64url SHA-256 of {"crv":"Ed25519","kty":"OKP","x":"<x>"}.
func KeyID(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// WriteSigningKey writes k to path as a PEM "PRIVATE KEY" block (PKCS #8),
// mode 0600, creating the parent directory with mode 0700 if it is missing.
// It writes a temporary file and renames it over path, so a reader sees the
// old key or the new one, never a part.
func WriteSigningKey(path string, k SigningKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return fmt.Errorf("write signing key %s: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("write signing key: %w", err)
	}
	return nil
}

// ReadSigningKey reads a key written by WriteSigningKey. The error wraps
// fs.ErrNotExist when the file is missing, and says what is wrong when the
// file holds no PKCS #8 Ed25519 private key.
func ReadSigningKey(path string) (SigningKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return SigningKey{}, fmt.Errorf("read signing key %s: no PEM \"PRIVATE KEY\" block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return SigningKey{}, fmt.Errorf("read signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return SigningKey{}, fmt.Errorf("read signing key %s: the key is a %T, want an Ed25519 key", path, key)
	}
	return SigningKey{ID: KeyID(priv.Public().(ed25519.PublicKey)), Private: priv}, nil
}

// Ensure returns the signing key and the key set kept in dir, creating dir
// (mode 0700), signing.pem and jwks.json if they are missing, and adding the
// signing key's public key to the set if it is not there. Run again, it
// returns the same key and changes nothing, so it is what a process calls at
// every start. It holds an exclusive lock on dir/keys.lock meanwhile, so
// processes that start at once get the same key. An existing file it cannot
// read or parse is an error, never silently replaced.
func Ensure(dir string) (SigningKey, *KeySet, error) {
	var key SigningKey
	var set *KeySet
	err := withDir(dir, func() error {
		var err error
		key, err = ReadSigningKey(filepath.Join(dir, SigningKeyFile))
		if errors.Is(err, fs.ErrNotExist) {
			if key, err = NewSigningKey(); err != nil {
				return err
			}
			err = WriteSigningKey(filepath.Join(dir, SigningKeyFile), key)
		}
		if err != nil {
			return err
		}
		if set, err = readKeySetOrEmpty(dir); err != nil {
			return err
		}
		if _, ok := set.Key(key.ID); ok {
			return nil
		}
		set.Add(key.Public())
		set.keepNewest(KeepKeys)
		return WriteKeySet(filepath.Join(dir, KeySetFile), set)
	})
	if err != nil {
		return SigningKey{}, nil, fmt.Errorf("ensure keys in %s: %w", dir, err)
	}
	return key, set, nil
}

// Rotate makes a new signing key current in dir and returns it. It writes
// jwks.json first, with the new public key added, the current one kept (and
// added if it was missing) and only the KeepKeys newest left, then replaces
// signing.pem: verifiers know the new key before any token is signed with it.
// Processes already running keep signing with the key they loaded, which
// verifies until it falls out of the set. Rotate holds the same lock as
// Ensure. On error signing.pem is as before, and jwks.json is as before or
// already lists the new key (having dropped the oldest beyond KeepKeys).
func Rotate(dir string) (SigningKey, error) {
	var key SigningKey
	err := withDir(dir, func() error {
		set, err := readKeySetOrEmpty(dir)
		if err != nil {
			return err
		}
		old, err := ReadSigningKey(filepath.Join(dir, SigningKeyFile))
		switch {
		case err == nil:
			set.Add(old.Public())
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if key, err = NewSigningKey(); err != nil {
			return err
		}
		set.Add(key.Public())
		set.keepNewest(KeepKeys)
		if err := WriteKeySet(filepath.Join(dir, KeySetFile), set); err != nil {
			return err
		}
		return WriteSigningKey(filepath.Join(dir, SigningKeyFile), key)
	})
	if err != nil {
		return SigningKey{}, fmt.Errorf("rotate keys in %s: %w", dir, err)
	}
	return key, nil
}

// withDir creates dir and runs f holding the directory's lock.
func withDir(dir string, f func() error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return err
	}
	defer unlock()
	return f()
}

func readKeySetOrEmpty(dir string) (*KeySet, error) {
	set, err := ReadKeySet(filepath.Join(dir, KeySetFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &KeySet{}, nil
	}
	return set, err
}

// writeFileAtomic writes data to a temporary file beside path with mode
// perm, flushes it, and renames it over path. The parent directory is
// created with mode 0700 if missing.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable; best effort
		_ = d.Sync()
		d.Close()
	}
	return nil
}
