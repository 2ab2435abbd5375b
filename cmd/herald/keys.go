package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/heraldev/herald/auth"
	"github.com/heraldev/herald/catalogue"
)

// authFlags are how the services sign and verify users' tokens.
type authFlags struct {
	AuthKeys       string        `name:"auth-keys" env:"HERALD_AUTH_KEYS" placeholder:"FILE" help:"The users service's public keys (a JWKS, jwks.json) that every service verifies tokens with, locally. Re-read when a token names a key it lacks, so a rotated key needs no restart. Default: <data>/secrets/auth/jwks.json, made on first start with the signing key."`
	AuthSigningKey string        `name:"auth-signing-key" env:"HERALD_AUTH_SIGNING_KEY" placeholder:"FILE" help:"The users service's Ed25519 private key (PEM) that signs tokens at POST /sessions; only users needs it. Default: <data>/secrets/auth/signing.pem."`
	TokenTTL       time.Duration `name:"token-ttl" default:"15m" env:"HERALD_TOKEN_TTL" help:"How long a sign-in token is valid."`
}

// authSecrets is where herald up and herald serve keep the token keys, and
// adminTokenFile the operator token, under the data dir.
func authSecrets(data string) string    { return filepath.Join(data, "secrets", "auth") }
func adminTokenFile(data string) string { return filepath.Join(data, "secrets", "admin.token") }

// operatorTokenTTL is how long the operator token herald up writes is
// valid; a running herald up rewrites it every operatorTokenRefresh.
const (
	operatorTokenTTL     = 24 * time.Hour
	operatorTokenRefresh = time.Hour
)

// setupAuth returns the verifier every service of targets checks tokens
// with, and the issuer the users service signs them with (nil when users
// is not among targets). With neither --auth-keys nor --auth-signing-key,
// the keys live in <data>/secrets/auth, made on the first start, and the
// operator token is written to <data>/secrets/admin.token; m rewrites it
// before it expires.
func (m *Main) setupAuth(f serviceFlags, targets []catalogue.Target) (*auth.Verifier, *auth.Issuer, error) {
	signs := false
	for _, t := range targets {
		signs = signs || t.Service.Name == "users"
	}
	ttl := cmp.Or(f.TokenTTL, auth.DefaultTTL)
	if f.AuthKeys == "" && f.AuthSigningKey == "" {
		dir := authSecrets(f.Data)
		key, _, err := auth.Ensure(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("token keys: %w", err)
		}
		v, err := auth.NewVerifierFile(filepath.Join(dir, auth.KeySetFile))
		if err != nil {
			return nil, nil, fmt.Errorf("token keys: %w", err)
		}
		issuer := &auth.Issuer{Key: key, TTL: ttl}
		if err := m.keepOperatorToken(issuer, adminTokenFile(f.Data)); err != nil {
			return nil, nil, err
		}
		if !signs {
			issuer = nil
		}
		return v, issuer, nil
	}
	keys := cmp.Or(f.AuthKeys, filepath.Join(authSecrets(f.Data), auth.KeySetFile))
	v, err := auth.NewVerifierFile(keys)
	if err != nil {
		return nil, nil, fmt.Errorf("--auth-keys %s: %w (herald keys --dir DIR makes the keys)", keys, err)
	}
	if !signs {
		return v, nil, nil
	}
	path := cmp.Or(f.AuthSigningKey, filepath.Join(authSecrets(f.Data), auth.SigningKeyFile))
	key, err := auth.ReadSigningKey(path)
	if err != nil {
		return nil, nil, fmt.Errorf("users signs tokens with --auth-signing-key %s: %w (herald keys --dir DIR makes it)", path, err)
	}
	return v, &auth.Issuer{Key: key, TTL: ttl}, nil
}

// keepOperatorToken writes an operator token signed by issuer's key to
// path (mode 0600), and rewrites it every operatorTokenRefresh until m
// closes, so the file always holds a valid one while herald runs.
func (m *Main) keepOperatorToken(issuer *auth.Issuer, path string) error {
	if err := writeOperatorToken(issuer, path, operatorTokenTTL); err != nil {
		return err
	}
	m.adminToken = path
	m.quitTokens = make(chan struct{})
	m.tokensDone = make(chan struct{})
	go func() {
		defer close(m.tokensDone)
		tick := time.NewTicker(operatorTokenRefresh)
		defer tick.Stop()
		for {
			select {
			case <-m.quitTokens:
				return
			case <-tick.C:
				if err := writeOperatorToken(issuer, path, operatorTokenTTL); err != nil {
					m.Log.Error("cannot renew the operator token", "path", path, "err", err)
				}
			}
		}
	}()
	return nil
}

// writeOperatorToken writes a fresh operator token, valid for ttl, to
// path, atomically and with mode 0600.
func writeOperatorToken(issuer *auth.Issuer, path string, ttl time.Duration) error {
	tok, _, err := issuer.IssueOperator(ttl)
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin.token.*")
	if err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("operator token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("operator token: %w", err)
	}
	return nil
}

// readToken returns the token in the file at path.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no operator token at %s: herald up and herald serve write it there; give --token-file", path)
	}
	if err != nil {
		return "", fmt.Errorf("operator token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// keysCmd makes, or rotates, the token keys of a deployment.
type keysCmd struct {
	Dir    string        `default:"./herald-keys" env:"HERALD_KEYS_DIR" help:"Directory of the keys: signing.pem (users only; mode 0600), jwks.json (every service) and admin.token (the operator's; mode 0600)."`
	TTL    time.Duration `default:"24h" env:"HERALD_KEYS_TOKEN_TTL" help:"How long the operator token written is valid."`
	Rotate bool          `env:"HERALD_KEYS_ROTATE" help:"Make a new signing key current; the old public key stays in jwks.json, so tokens it signed keep working until they expire. Restart users with the new signing.pem."`
}

// Keys makes c.Dir's keys if it has none (or rotates them), and writes a
// fresh operator token.
func (m *Main) Keys(c keysCmd) error {
	var key auth.SigningKey
	var err error
	if c.Rotate {
		key, err = auth.Rotate(c.Dir)
	} else {
		key, _, err = auth.Ensure(c.Dir)
	}
	if err != nil {
		return fmt.Errorf("keys in %s: %w", c.Dir, err)
	}
	token := filepath.Join(c.Dir, "admin.token")
	if err := writeOperatorToken(&auth.Issuer{Key: key}, token, c.TTL); err != nil {
		return err
	}
	fmt.Fprintf(m.Out, "signing key %s in %s (users: --auth-signing-key)\npublic keys in %s (every service: --auth-keys)\noperator token in %s, valid for %s\n",
		key.ID, filepath.Join(c.Dir, auth.SigningKeyFile), filepath.Join(c.Dir, auth.KeySetFile), token, c.TTL)
	return nil
}
