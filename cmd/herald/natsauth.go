package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/heraldev/herald/bus/jetstream"
	"github.com/heraldev/herald/catalogue"
)

// natsFlags are how a process proves itself to an external NATS server:
// per-identity credentials in a directory (each service its own), or one
// identity for everything the process runs, in the standard NATS ways.
type natsFlags struct {
	NATSCredentials string `name:"nats-credentials" env:"HERALD_NATS_CREDENTIALS" placeholder:"DIR" help:"Directory of NATS credentials, one per identity (<service>.nk or <service>.creds, and admin.nk to create streams), as herald nats-config writes them: each service connects as itself. Default: <data>/secrets/nats if it exists (herald up and herald bus write it), else none."`
	NATSNkey        string `name:"nats-nkey" env:"HERALD_NATS_NKEY" placeholder:"FILE" help:"One NKey seed file for every service of this process (instead of --nats-credentials)."`
	NATSCreds       string `name:"nats-creds" env:"HERALD_NATS_CREDS" placeholder:"FILE" help:"One NATS .creds file (user JWT and seed, operator mode) for every service of this process."`
	NATSUser        string `name:"nats-user" env:"HERALD_NATS_USER" help:"NATS user name for every service of this process (with --nats-password)."`
	NATSPassword    string `name:"nats-password" env:"HERALD_NATS_PASSWORD" help:"NATS password of --nats-user (prefer the environment variable: a flag shows in ps)."`
	NATSTLSCA       string `name:"nats-tls-ca" env:"HERALD_NATS_TLS_CA" placeholder:"FILE" help:"PEM file of the CA that signed the NATS servers' certificates."`
	NATSTLSCert     string `name:"nats-tls-cert" env:"HERALD_NATS_TLS_CERT" placeholder:"FILE" help:"PEM client certificate for mutual TLS with NATS (with --nats-tls-key)."`
	NATSTLSKey      string `name:"nats-tls-key" env:"HERALD_NATS_TLS_KEY" placeholder:"FILE" help:"PEM key of --nats-tls-cert."`
}

// natsSecrets is where herald up and herald bus keep the bus's
// credentials, under the data dir.
func natsSecrets(data string) string { return filepath.Join(data, "secrets", "nats") }

// single reports whether f names one identity for the whole process.
func (f natsFlags) single() bool { return f.NATSNkey != "" || f.NATSCreds != "" || f.NATSUser != "" }

// dir returns the credentials directory: --nats-credentials, or the data
// dir's if it exists, or "".
func (f natsFlags) dir(data string) string {
	if f.NATSCredentials != "" {
		return f.NATSCredentials
	}
	if d := natsSecrets(data); isDir(d) {
		return d
	}
	return ""
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// credentials returns how the identity called name (a service, or
// jetstream.AdminIdentity) connects. ok is false when f gives no
// credentials for it: no flags, or a directory without its file (for the
// admin, whose file only the operator's own machine should hold, that is
// not an error). A service missing from a credentials directory is an
// error that says how to make its file.
func (f natsFlags) credentials(data, name string) (c jetstream.Credentials, ok bool, err error) {
	tls := jetstream.Credentials{TLSCA: f.NATSTLSCA, TLSCert: f.NATSTLSCert, TLSKey: f.NATSTLSKey}
	if f.single() {
		c = tls
		c.Name, c.NkeyFile, c.CredsFile, c.User, c.Password = name, f.NATSNkey, f.NATSCreds, f.NATSUser, f.NATSPassword
		return c, true, nil
	}
	dir := f.dir(data)
	if dir == "" {
		return tls, false, nil
	}
	if !isDir(dir) {
		return c, false, fmt.Errorf("--nats-credentials %s: not a directory (make it with herald nats-config --dir %s)", dir, dir)
	}
	c, ok = jetstream.InDir(dir, name)
	c.TLSCA, c.TLSCert, c.TLSKey = tls.TLSCA, tls.TLSCert, tls.TLSKey
	if !ok && name != jetstream.AdminIdentity {
		return c, false, fmt.Errorf("no NATS credentials for %s in %s: regenerate them with herald nats-config --dir %s", name, dir, dir)
	}
	return c, ok, nil
}

// options returns the nats.Options of identity name's connection.
func (f natsFlags) options(data, name string) ([]nats.Option, bool, error) {
	c, ok, err := f.credentials(data, name)
	if err != nil {
		return nil, false, err
	}
	opts, err := c.Options()
	return opts, ok, err
}

// connectHint explains a refused connection.
func connectHint(err error) string {
	if errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization") {
		return "; the bus wants credentials: give --nats-credentials DIR (herald nats-config writes one; herald up and herald bus keep theirs in <data>/secrets/nats), or --nats-nkey, --nats-creds, --nats-user"
	}
	return "; is it running? set --nats (HERALD_NATS)"
}

// operatorFlags are how Herald's operator commands (herald dlq, trace,
// status) reach a running system: the bus's URL and the admin identity.
type operatorFlags struct {
	NATS string `name:"nats" default:"nats://127.0.0.1:4223" env:"HERALD_NATS" help:"URL of the bus (herald up's embedded bus listens on 127.0.0.1:4223)."`
	Data string `default:"./herald-data" env:"HERALD_DATA" help:"Data dir of herald up or herald bus, whose secrets/nats/admin.nk is the admin's credential (unless --nats-credentials or --nats-nkey say otherwise), and secrets/admin.token the operator token."`
	natsFlags
	TokenFile string `name:"token-file" env:"HERALD_TOKEN_FILE" placeholder:"FILE" help:"The operator token, sent to the services' /status and /journey. Default: <data>/secrets/admin.token."`
}

// token returns the operator token.
func (f operatorFlags) token() (string, error) {
	return readToken(cmp.Or(f.TokenFile, adminTokenFile(f.Data)))
}

// dial connects to the bus as the admin identity.
func (f operatorFlags) dial(name string, log *slog.Logger) (*jetstream.Bus, *nats.Conn, error) {
	opts, _, err := f.options(f.Data, jetstream.AdminIdentity)
	if err != nil {
		return nil, nil, err
	}
	b, nc, err := jetstream.Dial(f.NATS, name, jetstream.Options{Logger: log}, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w%s", err, connectHint(err))
	}
	return b, nc, nil
}

// natsConfigCmd prints (and writes) the bus's users and permissions for an
// operator's own NATS server or cluster.
type natsConfigCmd struct {
	Dir           string   `default:"./herald-nats" env:"HERALD_NATS_CONFIG_DIR" help:"Directory to write the credentials (<identity>.nk, mode 0600; existing ones are kept) and auth.conf into."`
	QueryReplicas []string `env:"HERALD_QUERY_REPLICAS" help:"Names of query replicas (herald serve query --replica NAME) whose durable consumers to allow, besides the unnamed one (comma-separated)."`
	External      []string `env:"HERALD_EXTERNAL" placeholder:"SERVICE|TYPE" help:"Blog services or event types that run outside Herald, whose events the gateway may publish (see herald serve --help)."`
}

// NATSConfig writes c.Dir's credentials and auth.conf, computed from the
// catalogue, and prints auth.conf.
func (m *Main) NATSConfig(c natsConfigCmd) error {
	if err := checkExternal(apps(serviceFlags{}), c.External); err != nil {
		return err
	}
	path, err := writeNATSAuth(c.Dir, apps(serviceFlags{External: c.External}), c.QueryReplicas)
	if err != nil {
		return err
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	fmt.Fprintf(m.Out, "# %s: include it in your nats-server config (include ./%s); the seeds beside it are the services' credentials (--nats-credentials %s).\n",
		path, jetstream.AuthFile, c.Dir)
	_, err = m.Out.Write(text)
	return err
}

// writeNATSAuth writes, in dir, the credentials and auth.conf of catalogue
// c with the named query replicas, and returns auth.conf's path.
func writeNATSAuth(dir string, c catalogue.Catalogue, replicas []string) (string, error) {
	rs := []string{""}
	for _, r := range replicas {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	path, err := jetstream.WriteAuth(dir, c.Identities(rs))
	if errors.Is(err, fs.ErrPermission) {
		return "", fmt.Errorf("%w; choose another directory", err)
	}
	return path, err
}
