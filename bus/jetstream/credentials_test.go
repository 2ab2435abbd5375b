package jetstream

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsRefuseWhatCannotWork(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteAuth(dir, testIdentities); err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(dir, "orders.nk")
	for _, c := range []struct {
		name string
		c    Credentials
		says string
	}{
		{"two ways at once", Credentials{NkeyFile: seed, User: "u"}, "give one of"},
		{"a password without a user", Credentials{Password: "p"}, "needs a user"},
		{"a missing nkey file", Credentials{NkeyFile: filepath.Join(dir, "nobody.nk")}, "nobody.nk"},
		{"a missing creds file", Credentials{CredsFile: filepath.Join(dir, "nobody.creds")}, "nobody.creds"},
		{"a certificate without its key", Credentials{TLSCert: "cert.pem"}, "needs its key"},
	} {
		if _, err := c.c.Options(); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.says)
		}
	}
	c, ok := InDir(dir, "orders")
	if !ok || c.NkeyFile != seed || c.Name != "orders" {
		t.Fatalf("InDir(orders) = %+v, %v; want its seed", c, ok)
	}
	if _, ok := InDir(dir, "nobody"); ok {
		t.Fatal("InDir found credentials for an identity that has none")
	}
	if opts, err := c.Options(); err != nil || len(opts) != 2 { // the nkey, the inbox prefix
		t.Fatalf("orders' options: %d, %v", len(opts), err)
	}
}
