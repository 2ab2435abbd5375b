package jetstream

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
)

// Credentials are how one identity proves itself to a NATS server, in the
// standard NATS ways: an NKey seed file, a JWT credentials file (operator
// mode), or a user and password; and the TLS settings of the connection.
// The zero value connects anonymously, without TLS.
type Credentials struct {
	// Name is the identity's name (a service's, or AdminIdentity); it
	// sets the connection's inbox prefix (InboxPrefix), which Herald's
	// generated permissions let only this identity read. Empty keeps
	// NATS's shared _INBOX prefix, for a server without Herald's
	// permissions.
	Name      string
	NkeyFile  string // an NKey user seed (SU...), as WriteAuth writes
	CredsFile string // a .creds file: a user JWT and its seed
	User      string
	Password  string
	TLSCA     string // PEM file of the CA that signed the server's certificate
	TLSCert   string // PEM client certificate, with TLSKey, for mutual TLS
	TLSKey    string
}

// Options returns the nats.Options that present c, or an error naming
// what is wrong (an unreadable file, two ways at once).
func (c Credentials) Options() ([]nats.Option, error) {
	var opts []nats.Option
	ways := 0
	for _, set := range []bool{c.NkeyFile != "", c.CredsFile != "", c.User != ""} {
		if set {
			ways++
		}
	}
	if ways > 1 {
		return nil, errors.New("nats credentials: give one of an nkey file, a creds file, or a user and password")
	}
	switch {
	case c.NkeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats credentials: nkey %s: %w", c.NkeyFile, err)
		}
		opts = append(opts, o)
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("nats credentials: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Password != "":
		return nil, errors.New("nats credentials: a password needs a user")
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("nats credentials: a TLS client certificate needs its key, and a key its certificate")
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.Name != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(c.Name)))
	}
	return opts, nil
}

// Anonymous reports whether c presents no identity at all.
func (c Credentials) Anonymous() bool {
	return c.NkeyFile == "" && c.CredsFile == "" && c.User == ""
}

// InDir returns the credentials of the identity called name in dir, as
// WriteAuth lays it out: <dir>/<name>.nk, or else <dir>/<name>.creds. ok is
// false if dir holds neither.
func InDir(dir, name string) (c Credentials, ok bool) {
	c.Name = name
	for _, ext := range []string{".nk", ".creds"} {
		path := filepath.Join(dir, name+ext)
		if _, err := os.Stat(path); err == nil {
			if ext == ".nk" {
				c.NkeyFile = path
			} else {
				c.CredsFile = path
			}
			return c, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			return c, false
		}
	}
	return c, false
}
